"""Headless Chromium for the desk tests: Debian's chromium driven through its chromedriver (/usr/bin/chromedriver),
never a downloaded browser; each session with a fresh profile directory."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from typing import Any

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from billing.invoicing.rendering import CHROMIUM, HEADLESS_FLAGS

CHROMEDRIVER = "/usr/bin/chromedriver"


class Browser:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.profile = tempfile.mkdtemp(prefix="billing-desk-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in (*HEADLESS_FLAGS, "--window-size=1280,1600", f"--user-data-dir={self.profile}"):
            options.add_argument(flag)
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)

    def open(self, path: str) -> None:
        self.driver.get(self.base_url + path)

    def sign_in(self, token: str) -> None:
        self.open("/signin")
        self.driver.find_element(By.ID, "token").send_keys(token)
        self.driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        self.until(lambda d: "/signin" not in d.current_url, 10)

    def until(self, condition: Callable[[Any], Any], timeout_s: float = 10) -> Any:
        """Wait for a condition with a deadline (WebDriverWait polls; nothing sleeps for a fixed time)."""
        # A panel the live stream re-renders between finding an element and reading it is read again.
        wait = WebDriverWait(
            self.driver, timeout_s, poll_frequency=0.05, ignored_exceptions=(StaleElementReferenceException,)
        )
        return wait.until(condition)

    def text(self, selector: str, timeout_s: float = 10) -> str:
        """The text of the first element matching `selector`, once there is one."""
        return str(self.until(lambda d: self.css(selector) and self.css(selector)[0].text, timeout_s))

    def css(self, selector: str) -> list[Any]:
        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def click(self, selector: str, timeout_s: float = 10) -> None:
        self.until(lambda d: self._act(selector, lambda e: e.click()), timeout_s)

    def fill(self, selector: str, text: str, timeout_s: float = 10) -> None:
        """Type into a field; a panel the live stream re-renders meanwhile is typed into again."""
        self.until(lambda d: self._act(selector, lambda e: (e.clear(), e.send_keys(text))), timeout_s)

    def _act(self, selector: str, action: Callable[[Any], Any]) -> bool:
        try:
            found = self.css(selector)
            if not found:
                return False
            action(found[0])
            return True
        except StaleElementReferenceException:
            return False

    def close(self) -> None:
        self.driver.quit()
        shutil.rmtree(self.profile, ignore_errors=True)
