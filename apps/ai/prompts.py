"""Prompts live as files: apps/ai/prompts/<name>.<lang>.txt (SPEC §4), never inline."""

from functools import lru_cache
from pathlib import Path

PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"
LANGUAGES = ("fr", "en")


class PromptNotFound(LookupError):
    pass


@lru_cache(maxsize=64)
def load_prompt(name: str, lang: str = "fr") -> str:
    """Return the prompt text; falls back to French then English. Raises PromptNotFound."""
    for candidate in (lang, "fr", "en"):
        path = PROMPTS_DIR / f"{name}.{candidate}.txt"
        if path.is_file():
            return path.read_text(encoding="utf-8").strip()
    raise PromptNotFound(f"No prompt file {name}.<lang>.txt in {PROMPTS_DIR}")
