"""The invoice document as HTML (Jinja2, one self-contained file: inline CSS, no script, no external asset) and
as PDF, printed from that HTML by headless Chromium.

Chromium rather than WeasyPrint: the Makefile already installs Chromium for the report screenshot tests, so the
PDF needs no second layout engine (WeasyPrint brings Pango, cairo and their fonts) and prints exactly the HTML a
browser shows.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

CHROMIUM = "/usr/bin/chromium"
# Headless, and silent on the network: without the background-networking flags Chromium keeps calling Google's
# services, which a closed network refuses many at a time. The desk's browser tests start it with the same flags.
HEADLESS_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
_FLAGS = (*HEADLESS_FLAGS, "--no-pdf-header-footer")


class RenderError(RuntimeError):
    """Chromium is missing or did not write the PDF."""


@lru_cache(maxsize=1)
def _environment() -> Environment:
    # Autoescape: names, reasons and descriptions come from customers, agents and upstream producers.
    return Environment(
        loader=PackageLoader("billing.invoicing", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
    )


def render_html(document: dict[str, Any]) -> str:
    """The document (``documents.load_invoice_document``) as one HTML page."""
    return _environment().get_template("invoice.html.j2").render(d=document)


def chromium() -> str:
    found = shutil.which("chromium") or (CHROMIUM if Path(CHROMIUM).exists() else None)
    if found is None:
        raise RenderError("chromium is not installed: install Debian's chromium (make prerequisites does)")
    return found


def print_pdf(html_path: Path, pdf_path: Path, timeout_s: float = 60.0) -> None:
    """Print ``html_path`` to ``pdf_path`` with headless Chromium, in a throw-away profile."""
    with tempfile.TemporaryDirectory(prefix="billing-chromium-") as profile:
        command = [
            chromium(),
            *_FLAGS,
            f"--user-data-dir={profile}",
            f"--print-to-pdf={pdf_path.resolve()}",
            html_path.resolve().as_uri(),
        ]
        result = subprocess.run(command, capture_output=True, timeout=timeout_s, check=False)
    if result.returncode != 0 or not pdf_path.exists() or pdf_path.stat().st_size == 0:
        raise RenderError(f"chromium did not print {pdf_path} (exit {result.returncode}): {result.stderr[-300:]!r}")


def screenshot(html_path: Path, png_path: Path, size: tuple[int, int] = (900, 1400), timeout_s: float = 60.0) -> None:
    """A PNG of the page as Chromium shows it (the sample in docs/)."""
    with tempfile.TemporaryDirectory(prefix="billing-chromium-") as profile:
        command = [
            chromium(),
            *_FLAGS,
            f"--user-data-dir={profile}",
            "--hide-scrollbars",
            f"--window-size={size[0]},{size[1]}",
            f"--screenshot={png_path.resolve()}",
            html_path.resolve().as_uri(),
        ]
        result = subprocess.run(command, capture_output=True, timeout=timeout_s, check=False)
    if result.returncode != 0 or not png_path.exists():
        raise RenderError(f"chromium did not write {png_path} (exit {result.returncode})")
