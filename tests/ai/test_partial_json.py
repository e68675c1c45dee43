"""The copilot's incremental partial-JSON parser gives, after every piece, what LangChain's parse_partial_json gives
on the whole text so far."""

from __future__ import annotations

import json
import random

import pytest
from langchain_core.utils.json import parse_partial_json

from apps.ai.copilot import _PartialJSON

ANSWERS = [
    json.dumps(
        {
            "confidence": 0.82,
            "replies": [
                {"text": "Bonjour, votre colis part demain [1].\nMerci !", "citations": [1]},
                {"text": 'Il « arrive » sous 48 h, "promis" \\ [2]', "citations": [2]},
            ],
            "questions": ["Quel est votre numéro de commande ?"],
            "priority": "MEDIUM",
            "next_best_actions": [],
        },
        ensure_ascii=False,
    ),
    'Voici ma réponse : ```json\n{"confidence": 0.3, "replies": []}\n```',
    '{"a": [1, 2, {"b": "x\\ny"}], "c": tru',
    '{"a": "never closed \\',
    "pas de JSON du tout",
    '{"a": 1}}',
]


@pytest.mark.parametrize("answer", ANSWERS)
@pytest.mark.parametrize("seed", range(5))
def test_each_piece_parses_like_parse_partial_json_on_the_whole_text(answer: str, seed: int) -> None:
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(answer)), min(len(answer) - 1, rng.randint(3, 40))))
    pieces = [answer[a:b] for a, b in zip([0, *cuts], [*cuts, len(answer)], strict=True)]
    partial, text = _PartialJSON(), ""
    for piece in pieces:
        text += piece
        got = partial.feed(piece)
        start = text.find("{")
        if start < 0:
            assert got is None
            continue
        try:
            expected = parse_partial_json(text[start:])
        except json.JSONDecodeError:
            expected = None
        assert got == expected, (text, got, expected)
