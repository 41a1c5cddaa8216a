"""The pieces that keep one-time codes unreadable until delivery: the seal, the channels, the choice of channel.

The relay itself runs against PostgreSQL in tests/integration/test_api_hardening.py. The webhook is tried
against a real HTTP server on a free port of this machine.
"""

from __future__ import annotations

import asyncio
import json
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
from cryptography.fernet import Fernet, InvalidToken
from pydantic import ValidationError

from billing.identity.notifications import FileSender, OutgoingMessage, WebhookSender, sender_for
from billing.identity.rules.secrets import CodeSeal
from billing.identity.verification import CODE_MESSAGE
from billing.platform.settings import load_settings

MESSAGE = OutgoingMessage(7, "sms", "+4915112345678", "Your verification code is 123456. Never share it.")


def test_a_sealed_code_opens_only_with_its_key_and_shows_nothing_of_the_code() -> None:
    key = Fernet.generate_key().decode()
    seal = CodeSeal(key)
    sealed = seal.seal("123456")
    assert "123456" not in sealed and seal.open(sealed) == "123456"
    assert CodeSeal(key).open(sealed) == "123456"  # another process with the same NOTIFICATION_KEY
    assert CodeSeal(key).key_id == seal.key_id and key not in seal.key_id
    stranger = CodeSeal()  # no key configured: one of its own
    assert stranger.key_id != seal.key_id
    with pytest.raises(InvalidToken):
        stranger.open(sealed)
    assert "123456" not in CODE_MESSAGE and "{code}" in CODE_MESSAGE


def test_a_notification_key_that_is_not_a_fernet_key_is_refused_at_start() -> None:
    assert load_settings(notification_key=Fernet.generate_key().decode()).notification_key is not None
    for wrong in ("secret", "c2hvcnQ=", "not base64 at all!"):
        with pytest.raises(ValidationError, match="NOTIFICATION_KEY"):
            load_settings(notification_key=wrong)


async def test_the_file_channel_appends_one_json_line_per_message_for_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "state" / "notifications.jsonl"
    sender = FileSender(path)
    await asyncio.gather(*(sender.send(MESSAGE) for _ in range(20)))
    lines = path.read_text().splitlines()
    assert len(lines) == 20 and {json.loads(line)["body"] for line in lines} == {MESSAGE.body}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


class Gateway(BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []
    status = 202

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        Gateway.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(Gateway.status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), Gateway)  # port 0: any free port
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Gateway.received, Gateway.status = [], 202
    yield f"http://127.0.0.1:{server.server_address[1]}/sms"
    server.shutdown()
    server.server_close()


async def test_the_webhook_channel_posts_the_message_and_fails_on_a_refusal(gateway: str) -> None:
    sender = WebhookSender(gateway)
    try:
        await sender.send(MESSAGE)
        assert Gateway.received == [
            {"notification_id": 7, "channel": "sms", "destination": "+4915112345678", "body": MESSAGE.body}
        ]
        Gateway.status = 503
        with pytest.raises(httpx.HTTPStatusError):
            await sender.send(MESSAGE)  # the relay leaves the row pending and tries again
    finally:
        await sender.close()


def test_the_channel_is_the_webhook_when_one_is_set_else_the_file(tmp_path: Path) -> None:
    default = sender_for(load_settings(state_dir=tmp_path))
    assert isinstance(default, FileSender) and default.path == tmp_path / "notifications.jsonl"
    chosen = sender_for(load_settings(state_dir=tmp_path, notification_file=tmp_path / "out.jsonl"))
    assert isinstance(chosen, FileSender) and chosen.path == tmp_path / "out.jsonl"
    assert isinstance(sender_for(load_settings(notification_webhook_url="http://gateway/sms")), WebhookSender)
