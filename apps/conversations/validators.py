"""Validation of what customers type into the pre-chat and contact forms (SPEC §6, §8). Raise ApplicationError."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from apps.core.exceptions import ApplicationError

_PHONE_SEPARATORS = re.compile(r"[\s.\-()/]")
# E.164 (+ and 8 to 15 digits, no leading 0 after the +), or a national number starting with 0 (9 to 14 digits).
_PHONE = re.compile(r"^(\+[1-9]\d{7,14}|0\d{8,13})$")
NAME_MAX = 200


def phone_normalize(value: str) -> str:
    """``"+33 6 12-34.56.78"`` -> ``"+33612345678"``; ``""`` stays ``""``. Raises ApplicationError(code="phone")."""
    value = _PHONE_SEPARATORS.sub("", (value or "").strip())
    if value.startswith("00"):
        value = "+" + value[2:]
    if value and not _PHONE.match(value):
        raise ApplicationError(
            "Enter a phone number in international format (+33612345678) or a national number starting with 0.",
            code="phone",
        )
    return value


def email_normalize(value: str) -> str:
    """Lower-cased domain, surrounding spaces removed; ``""`` stays ``""``. Raises ApplicationError(code="email")."""
    value = (value or "").strip()
    if not value:
        return ""
    try:
        validate_email(value)
    except ValidationError as exc:
        raise ApplicationError("Enter a valid e-mail address.", code="email") from exc
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


def name_normalize(value: str) -> str:
    value = " ".join((value or "").split())
    if len(value) > NAME_MAX:
        raise ApplicationError(f"The name is longer than {NAME_MAX} characters.", code="name")
    return value


def contact_details_clean(*, name: str = "", phone: str = "", email: str = "") -> dict[str, str]:
    """All three at once; the ApplicationError raised carries every field's error in ``extra["fields"]``."""
    cleaned: dict[str, str] = {}
    errors: dict[str, str] = {}
    for field, value, clean in (
        ("name", name, name_normalize),
        ("phone", phone, phone_normalize),
        ("email", email, email_normalize),
    ):
        if value is not None and not isinstance(value, str):
            errors[field] = "Expected a string."
            continue
        try:
            cleaned[field] = clean(value or "")
        except ApplicationError as exc:
            errors[field] = exc.detail
    if errors:
        raise ApplicationError("Some contact details are invalid.", code="invalid_contact", extra={"fields": errors})
    return cleaned
