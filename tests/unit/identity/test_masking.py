from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from billing.accounts.rules.view import AccountFacts, account_view
from billing.identity.rules.masking import CARD_NUMBER, luhn_valid, mask_card_numbers, mask_email, mask_name, mask_phone

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


def check_digit(body: str) -> str:
    """The digit that makes `body` + digit pass Luhn (worked by the rule, not by calling the code under test)."""
    total = 0
    for position, char in enumerate(reversed(body)):  # the check digit will take position 0
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return str(-total % 10)


# A card number: 12 to 18 random digits and the check digit that makes them pass Luhn (13 to 19 in all).
card_digits = st.text(alphabet="0123456789", min_size=12, max_size=18).map(lambda body: body + check_digit(body))
separators = st.sampled_from(["", " ", "-", ".", "  ", " - ", "\u00a0", "/", "_", "\u2013", ". ", "\u200b"])


@st.composite
def grouped_card(draw: st.DrawFn) -> str:
    digits = draw(card_digits)
    sep = draw(separators)
    return sep.join(digits[i : i + 4] for i in range(0, len(digits), 4))


@given(
    prefix=st.text(alphabet="abc ,.:", max_size=10), card=grouped_card(), suffix=st.text(alphabet="xyz ,.", max_size=10)
)
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
    for secret in (
        "Erika",
        "Mustermann",
        "erika@",
        "12345678",
        "inv-1",
        "mobile-plus",
        "dsp-1",
        "g-1",
        "billable_units",
    ):
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
    first=words,
    last=words,
    local=words,
    host=words,
    phone=st.text(alphabet="0123456789", min_size=7, max_size=14).map(lambda d: "+4" + d),
)
def test_a_masked_view_never_shows_a_whole_name_address_or_number(first, last, local, host, phone) -> None:
    facts = AccountFacts(
        account_id="acc-1",
        name=f"{first.title()} {last.title()}",
        email=f"{local}@{host}.com",
        phone=phone,
        plan_id="p",
        status="active",
        currency="EUR",
    )
    view = account_view(facts, verified=False)
    shown = json.dumps(view, ensure_ascii=False)
    assert first.title() not in shown and last.title() not in shown
    assert f"{local}@" not in shown and f"@{host}" not in shown
    assert view["contact"]["phone"] == "***" + phone[-2:]  # two digits of the number, never more


def test_the_check_digit_helper_agrees_with_known_test_cards() -> None:
    # Published test numbers: Visa 4111 1111 1111 1111, Visa 4000 0000 0000 0002, Amex 3782 822463 10005.
    assert check_digit("411111111111111") == "1"
    assert check_digit("400000000000000") == "2"
    assert check_digit("37828224631000") == "5"
    assert luhn_valid("4111111111111111") and luhn_valid("378282246310005")
    assert not luhn_valid("4111111111111112") and not luhn_valid("1234567890123456")


def test_cards_with_other_separators_are_masked_and_other_numbers_stay() -> None:
    assert mask_card_numbers("4000.0000.0000.0002") == "****.****.****.0002"
    assert mask_card_numbers("3782  822463  10005") == "****  ******  *0005"
    assert mask_card_numbers("4111 - 1111 - 1111 - 1111") == "**** - **** - **** - 1111"
    assert mask_card_numbers("4111\u200b1111\u200b1111\u200b1111") == "****\u200b****\u200b****\u200b1111"
    full_width = "４１１１ １１１１ １１１１ １１１１"
    assert mask_card_numbers(full_width) == "**** **** **** １１１１"
    # Next to other numbers the card is still found, and only the card is masked.
    assert mask_card_numbers("4000-0000-0000-0002 12/28") == "****-****-****-0002 12/28"
    assert mask_card_numbers("ref 12 4111 1111 1111 1111") == "ref 12 **** **** **** 1111"
    # Digits that fail the Luhn check are a reference, not a card.
    assert mask_card_numbers("Order 1234 5678 9012 3456") == "Order 1234 5678 9012 3456"
    assert mask_card_numbers("41111111111111112") == "41111111111111112"  # 17 digits, one run: fails Luhn


gaps = st.lists(st.sampled_from([" ", "-", ".", "\u00a0", "/", "_", "\u2013", "\u200b", "\t"]), max_size=3).map("".join)
prose = st.text(alphabet="abcxyz ,:;()!?", max_size=12)


@st.composite
def card_split_anywhere(draw: st.DrawFn) -> tuple[str, str]:
    """(the digits, the card as written): any mix of separators, repeated, between any two digits."""
    digits = draw(card_digits)
    written = digits[0] + "".join(draw(gaps) + digit for digit in digits[1:])
    return digits, written


@given(card=card_split_anywhere(), before=prose, after=prose)
def test_a_card_written_any_way_keeps_only_its_last_four_digits(card: tuple[str, str], before: str, after: str) -> None:
    digits, written = card
    masked = mask_card_numbers(before + written + after)
    assert [c for c in masked if c.isdigit()] == list(digits[-4:])
    assert masked.count("*") == len(digits) - 4  # every other digit hidden
    assert len(masked) == len(before + written + after)  # the layout stays: one star per hidden digit
    assert mask_card_numbers(masked) == masked


@given(body=st.text(alphabet="0123456789", min_size=13, max_size=16), sep=separators, before=prose, after=prose)
def test_digits_that_fail_the_luhn_check_stay_as_they_are(body: str, sep: str, before: str, after: str) -> None:
    # 13 to 16 digits in groups of 4: no stretch of whole groups but the whole is 13 digits or more.
    digits = body if not luhn_valid(body) else body[:-1] + str((int(body[-1]) + 1) % 10)
    text = before + sep.join(digits[i : i + 4] for i in range(0, len(digits), 4)) + after
    assert mask_card_numbers(text) == text
