"""What an agent may see of a person before and after verification. Pure: text in, text out.

Masks keep just enough for the agent to talk to the caller ("is this Erika?") and nothing an impostor could
collect: the first letter of each name, the last two digits of a phone, the first letter of an e-mail's parts.
Card numbers are cut to their last 4 digits wherever they appear in free text, verified or not (PCI DSS).
"""

from __future__ import annotations

import re

# 13 to 19 digits, optionally grouped by single spaces or dashes: every card number length in use.
CARD_NUMBER = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
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
    """Every card-like number keeps only its last 4 digits: '4111 1111 1111 1111' -> '**** **** **** 1111'."""
    return CARD_NUMBER.sub(_keep_last_four, text)


def _keep_last_four(match: re.Match[str]) -> str:
    number = match.group(0)
    digits_seen = 0
    total_digits = sum(c.isdigit() for c in number)
    out = []
    for char in number:
        if char.isdigit():
            digits_seen += 1
            out.append(char if digits_seen > total_digits - 4 else "*")
        else:
            out.append(char)
    return "".join(out)
