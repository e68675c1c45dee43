"""Loaded into a test worker with `celery worker --include tests.copilot.slow_stream`: the generation seam's
suggestion_stream becomes a slow one (a word every 100 ms for 5 s, then Done), so that a second customer message
arrives while the first suggestion is still streaming. Only ever imported by that worker."""

from __future__ import annotations

import time
from collections.abc import Iterator

from apps.ai import copilot as ai_copilot
from apps.copilot.types import CopilotContext, Delta, Done, OutputSuggestion, Reply, ReplyDelta

WORDS = 50
DELAY_S = 0.1


def slow_suggestion_stream(context: CopilotContext) -> Iterator[Delta]:
    words = [f"mot{i}" for i in range(WORDS)]
    for i, word in enumerate(words):
        yield ReplyDelta(index=0, text=(" " if i else "") + word)
        time.sleep(DELAY_S)
    text = " ".join(words)
    yield Done(suggestion=OutputSuggestion(replies=[Reply(text=text), Reply(text=text)], confidence=0.9, silent=False))


ai_copilot.suggestion_stream = slow_suggestion_stream
