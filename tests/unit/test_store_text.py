"""Dead-letter reasons quote the input now and then; whatever the input held, the reason is storable text."""

from __future__ import annotations

from billing.platform.store import storable_text


def test_nul_and_lone_surrogates_are_escaped_and_the_rest_is_kept() -> None:
    assert storable_text("field 'a\x00b' unknown") == "field 'a\\x00b' unknown"
    assert storable_text("bad \ud800 here") == "bad \\ud800 here"
    assert storable_text("prix: 3 €, ünïcode") == "prix: 3 €, ünïcode"
    storable_text("bad \ud800 \x00 here").encode("utf-8")  # encodable, which the raw text was not
