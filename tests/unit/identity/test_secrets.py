from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from billing.identity.rules.secrets import hash_secret, new_one_time_code, new_token, token_hash, verify_secret

FAST_N = 2**4  # a tiny scrypt cost keeps the property tests quick; the stored n is honoured when verifying


def test_a_hash_verifies_its_secret_and_nothing_else() -> None:
    stored = hash_secret("4821")
    assert verify_secret("4821", stored)
    assert not verify_secret("4822", stored)
    assert not verify_secret("", stored)


def test_the_same_secret_hashes_differently_each_time_salted() -> None:
    first, second = hash_secret("4821", n=FAST_N), hash_secret("4821", n=FAST_N)
    assert first != second
    assert "4821" not in first


def test_production_cost_is_stored_with_the_hash() -> None:
    scheme, n, r, p, *_ = hash_secret("1234").split("$")
    assert (scheme, n, r, p) == ("scrypt", str(2**14), "8", "1")


@settings(max_examples=40, deadline=None)
@given(secret=st.text(min_size=1, max_size=20), other=st.text(min_size=1, max_size=20))
def test_verify_accepts_exactly_the_hashed_secret(secret: str, other: str) -> None:
    stored = hash_secret(secret, n=FAST_N)
    assert verify_secret(secret, stored)
    assert verify_secret(other, stored) == (other == secret)


@given(stored=st.text(max_size=80))
def test_malformed_stored_values_never_verify(stored: str) -> None:
    assert not verify_secret("1234", stored)


def test_tokens_are_long_random_and_stored_as_sha256() -> None:
    tokens = {new_token() for _ in range(50)}
    assert len(tokens) == 50
    token = tokens.pop()
    assert len(token) >= 43  # 32 bytes in url-safe base64
    assert len(token_hash(token)) == 64 and token not in token_hash(token)
    assert token_hash(token) == token_hash(token)


def test_one_time_codes_are_six_digits() -> None:
    codes = [new_one_time_code() for _ in range(200)]
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    assert len(set(codes)) > 150  # random, not a counter
