from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from api.account_view import AccountFacts, account_view
from api.masking import CARD_NUMBER, mask_card_numbers, mask_email, mask_name, mask_phone

FACTS = AccountFacts(
    account_id="acc-100042",
    name="Erika Mustermann",
    email="erika@example.com",
    phone="+4915112345678",
    plan_id="mobile-plus-2026",
    status="active",
    currency="EUR",
    invoices=({"invoice_id": "inv-1", "lines": [{"line_id": "l1", "description": "Paid by 4111 1111 1111 1111"}]},),
    usage={"cycle_start": "2026-11-01", "services": {"voice": {"billable_units": 184, "events": 1}}},
    disputes=({"dispute_id": "dsp-1", "reason": "incorrect_charge", "resolution_note": "card 5500-0000-0000-0004"},),
    discounts=({"grant_id": "g-1", "kind": "percent", "percent_bp": 1000},),
)


def test_masks_keep_a_first_letter_or_the_last_two_digits() -> None:
    assert mask_name("Erika Mustermann") == "E*** M***"
    assert mask_email("erika@example.com") == "e***@e***.com"
    assert mask_phone("+4915112345678") == "***78"
    assert mask_email(None) is None and mask_phone(None) is None


def test_card_numbers_keep_only_their_last_four_digits() -> None:
    assert mask_card_numbers("card 4111 1111 1111 1111 ok") == "card **** **** **** 1111 ok"
    assert mask_card_numbers("5500-0000-0000-0004") == "****-****-****-0004"
    assert mask_card_numbers("4111111111111111") == "************1111"
    assert mask_card_numbers("invoice INV-2026-000123, 184 s") == "invoice INV-2026-000123, 184 s"


card_digits = st.text(alphabet="0123456789", min_size=13, max_size=19)
separators = st.sampled_from(["", " ", "-"])


@st.composite
def grouped_card(draw: st.DrawFn) -> str:
    digits = draw(card_digits)
    sep = draw(separators)
    return sep.join(digits[i : i + 4] for i in range(0, len(digits), 4))


@given(prefix=st.text(alphabet="abc ,.:", max_size=10), card=grouped_card(), suffix=st.text(alphabet="xyz ,.", max_size=10))
def test_no_card_number_survives_masking(prefix: str, card: str, suffix: str) -> None:
    masked = mask_card_numbers(prefix + card + suffix)
    assert CARD_NUMBER.search(masked) is None
    digits = [c for c in card if c.isdigit()]
    assert [c for c in masked if c.isdigit()] == digits[-4:]
    assert mask_card_numbers(masked) == masked


def test_unverified_view_shows_masked_identity_and_no_history() -> None:
    view = account_view(FACTS, verified=False)
    text = json.dumps(view)
    assert view["verified"] is False and view["name"] == "E*** M***"
    for secret in ("Erika", "Mustermann", "erika@", "12345678", "inv-1", "mobile-plus", "dsp-1", "g-1", "billable_units"):
        assert secret not in text
    assert view["invoices"] is None and view["usage"] is None and view["disputes"] is None


def test_verified_view_shows_the_account_but_never_a_full_card_number() -> None:
    view = account_view(FACTS, verified=True)
    assert view["name"] == "Erika Mustermann"
    assert view["contact"] == {"email": "erika@example.com", "phone": "+4915112345678"}
    assert view["invoices"][0]["lines"][0]["description"] == "Paid by **** **** **** 1111"
    assert view["disputes"][0]["resolution_note"] == "card ****-****-****-0004"
    assert view["usage"]["services"]["voice"]["billable_units"] == 184
    assert view["discounts"] == [{"grant_id": "g-1", "kind": "percent", "percent_bp": 1000}]


words = st.text(alphabet="abcdefghijklmnopqrstuvwxyzäöüß", min_size=2, max_size=12)


@given(
    first=words, last=words, local=words, host=words,
    phone=st.text(alphabet="0123456789", min_size=7, max_size=14).map(lambda d: "+4" + d),
)  # fmt: skip
def test_a_masked_view_never_shows_a_whole_name_address_or_number(first, last, local, host, phone) -> None:
    facts = AccountFacts(
        account_id="acc-1", name=f"{first.title()} {last.title()}", email=f"{local}@{host}.com", phone=phone,
        plan_id="p", status="active", currency="EUR",
    )  # fmt: skip
    view = account_view(facts, verified=False)
    shown = json.dumps(view, ensure_ascii=False)
    assert first.title() not in shown and last.title() not in shown
    assert f"{local}@" not in shown and f"@{host}" not in shown
    assert view["contact"]["phone"] == "***" + phone[-2:]  # two digits of the number, never more
