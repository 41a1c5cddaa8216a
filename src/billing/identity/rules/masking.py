"""What an agent may see of a person before and after verification. Pure: text in, text out.

Masks keep just enough for the agent to talk to the caller ("is this Erika?") and nothing an impostor could
collect: the first letter of each name, the last two digits of a phone, the first letter of an e-mail's parts.
Card numbers are cut to their last 4 digits wherever they appear in free text, verified or not (PCI DSS).
This module is the one place that decides what a card number looks like.
"""

from __future__ import annotations

import re
from typing import Any

# What people and systems put between the digits of a card number: any whitespace (no-break and ideographic
# spaces too), dots, underscores, slashes, every dash and the minus sign, and the invisible characters a pasted
# number can carry (soft hyphen, zero-width spaces, word joiner, byte-order mark). Any mix, any repetition.
_SEPARATOR = "[\\s._/\\-\u00ad\u2010-\u2015\u2212\u200b-\u200d\u2060\ufeff]"
# Digits (of any script: \d is Unicode) joined by separators; a letter or other punctuation ends the run.
_DIGIT_RUN = re.compile(rf"\d(?:{_SEPARATOR}*\d)*")
_DIGITS = re.compile(r"\d+")
# A card-like number as a scanner would flag it: 13 to 19 digits with separators, no digit right before or after.
CARD_NUMBER = re.compile(rf"(?<!\d)(?:\d{_SEPARATOR}*){{12,18}}\d(?!\d)")
CARD_LENGTHS = range(13, 20)  # every card number length in use (ISO/IEC 7812)
_HIDDEN = "***"


def mask_name(name: str) -> str:
    """'Erika Mustermann' -> 'E*** M***' (the stars do not tell the length)."""
    return " ".join(word[0] + _HIDDEN for word in name.split() if word) or _HIDDEN


def mask_email(email: str | None) -> str | None:
    """'erika@example.com' -> 'e***@e***.com'."""
    if email is None:
        return None
    local, _, domain = email.partition("@")
    host, dot, tld = domain.rpartition(".")
    masked_domain = f"{host[:1]}{_HIDDEN}{dot}{tld}" if dot else f"{domain[:1]}{_HIDDEN}"
    return f"{local[:1]}{_HIDDEN}@{masked_domain}"


def mask_phone(phone: str | None) -> str | None:
    """'+4915112345678' -> '***78'."""
    if phone is None:
        return None
    digits = [c for c in phone if c.isdigit()]
    return _HIDDEN + "".join(digits[-2:])


def mask_card_numbers(text: str) -> str:
    """Every card number keeps only its last 4 digits: '4111 1111 1111 1111' -> '**** **** **** 1111'.

    A card number is 13 to 19 digits, with any separators between them, that pass the Luhn check; digits that
    fail it (an order reference, a 13-digit phone number) are left alone. A card sits inside a longer run when
    other numbers are written next to it ('4000-0000-0000-0002 12/28'), so every stretch of whole digit groups
    of a run is checked, not only the run as a whole.
    """
    return _DIGIT_RUN.sub(_mask_run, text)


def luhn_valid(digits: str) -> bool:
    """The ISO/IEC 7812 check digit: from the right, every second digit doubled (minus 9 above 9), sum % 10 == 0."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _mask_run(match: re.Match[str]) -> str:
    run = match.group(0)
    groups = [(m.start(), m.end()) for m in _DIGITS.finditer(run)]
    hidden: set[int] = set()
    for first in range(len(groups)):
        positions: list[int] = []
        for start, end in groups[first:]:
            positions.extend(range(start, end))
            if len(positions) > CARD_LENGTHS.stop - 1:
                break
            if len(positions) in CARD_LENGTHS and luhn_valid("".join(run[i] for i in positions)):
                hidden.update(positions[:-4])
    if not hidden:
        return run
    return "".join("*" if index in hidden else char for index, char in enumerate(run))


def scrub_cards(value: Any) -> Any:
    """Every string anywhere in the structure with card numbers cut to their last 4 digits."""
    if isinstance(value, str):
        return mask_card_numbers(value)
    if isinstance(value, dict):
        return {key: scrub_cards(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub_cards(item) for item in value]
    return value
