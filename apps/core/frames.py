"""Client frames of the WebSocket consumers (widget, console): one JSON object with a "type", of bounded size."""

from __future__ import annotations

import json
from typing import Any

MAX_FRAME_BYTES = 16_384


class FrameError(Exception):
    """A frame the consumer cannot read: ``code`` and ``detail`` go back to the client in an error frame."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def parse_frame(text_data: str | None, max_bytes: int = MAX_FRAME_BYTES) -> dict[str, Any]:
    """The frame as a dict whose "type" is a string, or FrameError (bad_frame: binary, too large or not an object
    with a "type"; bad_json: not JSON)."""
    if text_data is None or len(text_data.encode()) > max_bytes:
        raise FrameError("bad_frame", f"Send JSON text frames of at most {max_bytes} bytes.")
    try:
        frame = json.loads(text_data)
    except ValueError:
        raise FrameError("bad_json", "The frame is not valid JSON.") from None
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise FrameError("bad_frame", 'A frame is a JSON object with a "type".')
    return frame
