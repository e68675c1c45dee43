"""Saved answers agents expand in the reply box by typing their shortcut (`/retour`)."""

from django.core.validators import RegexValidator
from django.db import models

from apps.core.models import BaseModel

SHORTCUT_RE = r"^[a-z0-9][a-z0-9_-]{0,39}$"


class Snippet(BaseModel):
    shortcut = models.CharField(
        max_length=40,
        unique=True,
        validators=[RegexValidator(SHORTCUT_RE, "Lowercase letters, digits, '-' and '_' (typed after a '/').")],
        help_text="Typed after a slash in the reply box: 'retour' expands /retour",
    )
    title = models.CharField(max_length=120)
    body = models.TextField(help_text="The text that replaces the shortcut")
    language = models.CharField(max_length=8, blank=True, help_text="fr, en, ... (informative)")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["shortcut"]

    def __str__(self) -> str:
        return f"/{self.shortcut}"
