"""Smart replies (SPEC §6 "Bot first line" (a)): rules that answer greetings, thanks, goodbyes and top questions
instantly, without a language model. Editable by supervisors in the admin."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import models

from apps.core.models import BaseModel


class SmartReply(BaseModel):
    class Language(models.TextChoices):
        FR = "fr", "French"
        EN = "en", "English"
        ANY = "any", "Any language"

    class MatchType(models.TextChoices):
        KEYWORDS = "keywords", "Keywords (one per line; all words of a line must appear)"
        REGEX = "regex", "Regular expression (one per line, case-insensitive, accents ignored)"

    name = models.CharField(max_length=100, unique=True)
    language = models.CharField(max_length=3, choices=Language.choices, default=Language.ANY)
    match_type = models.CharField(max_length=10, choices=MatchType.choices, default=MatchType.KEYWORDS)
    patterns = models.TextField(
        help_text="One pattern per line. Keywords: the words of a line must all appear in the message (any order, "
        "accents and case ignored). Regex: Python syntax, searched in the message without accents, lower case."
    )
    whole_message = models.BooleanField(
        default=False,
        help_text="Only when the message is nothing but the pattern (plus politeness and punctuation): a greeting "
        "rule must not answer « bonjour, ma box ne marche plus ».",
    )
    answer = models.TextField()
    source_title = models.CharField(
        max_length=300, blank=True, help_text="Cited as the answer's source (e.g. the knowledge document it restates)"
    )
    url = models.CharField(max_length=500, blank=True, help_text="Optional link cited with the source")
    priority = models.IntegerField(default=100, help_text="Higher first when several rules match")
    active = models.BooleanField(default=True, db_index=True)

    class Meta:
        ordering = ["-priority", "name"]
        verbose_name = "smart reply"
        verbose_name_plural = "smart replies"

    def __str__(self) -> str:
        return self.name

    def pattern_lines(self) -> list[str]:
        return [line.strip() for line in self.patterns.splitlines() if line.strip()]

    def clean(self) -> None:
        if not self.pattern_lines():
            raise ValidationError({"patterns": "At least one pattern."})
        if self.match_type == self.MatchType.REGEX:
            for line in self.pattern_lines():
                try:
                    re.compile(line)
                except re.error as exc:
                    raise ValidationError({"patterns": f"Invalid regular expression {line!r}: {exc}"}) from exc
