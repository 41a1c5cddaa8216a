"""Tokens and caller secrets, hashed for storage. Pure: no database, no logging.

Agent tokens are 256 random bits, so one SHA-256 of them cannot be guessed back and needs no salt or stretching;
that keeps the per-request lookup a single indexed equality. PINs and one-time codes come from a tiny space
(10,000 PINs), so they are stored only as salted scrypt hashes, which make each guess against a stolen table
cost memory and time.

A one-time code must also reach the customer, so until the delivery channel has it, it is kept sealed (Fernet:
AES-128-CBC with an HMAC-SHA256, from the `cryptography` package) with a key that is not in the database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet

TOKEN_BYTES = 32
# scrypt cost: n=2**14, r=8 uses 16 MiB and about 50 ms per hash here; enough for 4-6 digit secrets at
# the rate an API sees, cheap enough for tests.
_SCRYPT_N = 2**14
_SCRYPT_R = 8
_SCRYPT_P = 1
_SCRYPT_LEN = 32
_SALT_BYTES = 16
_SCHEME = "scrypt"


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_one_time_code(digits: int = 6) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(digits))


def hash_secret(secret: str, *, n: int = _SCRYPT_N) -> str:
    """`scrypt$n$r$p$salt$hash`, all parameters stored so they can be raised later without breaking old rows."""
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(secret, salt, n, _SCRYPT_R, _SCRYPT_P)
    return "$".join([_SCHEME, str(n), str(_SCRYPT_R), str(_SCRYPT_P), _b64(salt), _b64(digest)])


def verify_secret(secret: str, stored: str) -> bool:
    """True when `secret` hashes to `stored`; False for any mismatch or a malformed stored value."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != _SCHEME:
        return False
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, expected = _unb64(parts[4]), _unb64(parts[5])
    except ValueError:
        return False
    return hmac.compare_digest(_scrypt(secret, salt, n, r, p), expected)


def _scrypt(secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024, dklen=_SCRYPT_LEN)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CodeSeal:
    """Seals one-time codes for the time between their creation and their delivery.

    `key_id` names the key (a hash prefix, which says nothing about the key), so a relay only takes the codes it
    can open. Without a configured key each instance makes its own: fine for one process, and a code it leaves
    undelivered simply expires.
    """

    def __init__(self, key: str | None = None) -> None:
        raw = key.encode("ascii") if key else Fernet.generate_key()
        self._fernet = Fernet(raw)  # ValueError for a malformed key
        self.key_id = hashlib.sha256(raw).hexdigest()[:16]

    def seal(self, code: str) -> str:
        return self._fernet.encrypt(code.encode()).decode("ascii")

    def open(self, sealed: str) -> str:
        """The code; cryptography.fernet.InvalidToken when `sealed` was not made with this key or was altered."""
        return self._fernet.decrypt(sealed.encode("ascii")).decode()
