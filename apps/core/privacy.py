"""PII redaction for text that leaves the machine (SPEC §4: e-mails, phone numbers, IBANs, card numbers,
postal addresses -> placeholders). Conservative: it prefers redacting a number too many to leaking one."""

from __future__ import annotations

import re

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b", re.IGNORECASE)
_CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
_PHONE = re.compile(r"(?<![\w+])(?:\+|00)?\d{1,3}?[ .-]?(?:\(?\d{1,4}\)?[ .-]?){2,5}\d{2,4}(?!\w)")
_ADDRESS = re.compile(
    r"\b\d{1,4}(?:\s?(?:bis|ter))?,?\s+(?:rue|avenue|av\.|boulevard|bd|chemin|allée|impasse|place|quai|route|cours|"
    r"street|st\.|road|rd\.|avenue|lane|drive|way)\b[^\n,.;]{0,60}",
    re.IGNORECASE,
)
_POSTCODE_CITY = re.compile(r"\b\d{5}\s+[A-ZÉÈ][\w'’ -]{1,40}")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "[CARD]" if 13 <= len(digits) <= 19 and _luhn_ok(digits) else match.group(0)


def _phone(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "[PHONE]" if 8 <= len(digits) <= 15 else match.group(0)


def redact(text: str) -> str:
    """Replace personal data with placeholders: [EMAIL], [IBAN], [CARD], [PHONE], [ADDRESS]."""
    text = _EMAIL.sub("[EMAIL]", text)
    text = _IBAN.sub(lambda m: "[IBAN]" if sum(c.isdigit() for c in m.group(0)) >= 10 else m.group(0), text)
    text = _CARD.sub(_card, text)
    text = _ADDRESS.sub("[ADDRESS]", text)
    text = _POSTCODE_CITY.sub("[ADDRESS]", text)
    text = _PHONE.sub(_phone, text)
    return text
