"""The offline `local` provider (SPEC §4): deterministic, no language model, no network.

`LocalChatModel` is a real LangChain chat model: it streams, reports token usage and goes through the same
recording as the `openai` provider. What it *answers* depends on the purpose it was created for: each AI
feature registers a handler (`register_handler`) that implements it with extraction and lexicons. Purposes
without a handler get the extractive summariser, which condenses the conversation into its most central
sentences.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from apps.ai.local.text import content_words, sentences
from apps.ai.tokens import count_tokens

LOCAL_MODEL_NAME = "supportdesk-local-1"

Handler = Callable[[Sequence[BaseMessage]], str]
_HANDLERS: dict[str, Handler] = {}


def register_handler(purpose: str) -> Callable[[Handler], Handler]:
    def decorator(fn: Handler) -> Handler:
        _HANDLERS[purpose] = fn
        return fn

    return decorator


def _text_of(message: BaseMessage) -> str:
    return (
        message.content
        if isinstance(message.content, str)
        else " ".join(part.get("text", "") for part in message.content if isinstance(part, dict))
    )


def extractive_summary(messages: Sequence[BaseMessage], max_sentences: int = 2) -> str:
    """The sentences of the human messages that share the most content words with the whole conversation."""
    corpus = [_text_of(m) for m in messages if isinstance(m, HumanMessage)]
    all_sentences = [s for text in corpus for s in sentences(text)]
    if not all_sentences:
        return ""
    freq = Counter(w for s in all_sentences for w in set(content_words(s)))

    def score(item: tuple[int, str]) -> float:
        words = content_words(item[1])
        return sum(freq[w] for w in set(words)) / (1 + len(words)) ** 0.5 if words else 0.0

    best = sorted(enumerate(all_sentences), key=score, reverse=True)[:max_sentences]
    return " ".join(s for _, s in sorted(best))


class LocalChatModel(BaseChatModel):
    purpose: str = "default"
    model_name: str = LOCAL_MODEL_NAME
    chunk_words: int = 1

    @property
    def _llm_type(self) -> str:
        return "supportdesk-local"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "purpose": self.purpose}

    def _answer(self, messages: Sequence[BaseMessage]) -> str:
        handler = _HANDLERS.get(self.purpose, extractive_summary)
        return handler(messages)

    def _usage(self, messages: Sequence[BaseMessage], answer: str) -> UsageMetadata:
        prompt = sum(count_tokens(_text_of(m)) for m in messages)
        completion = count_tokens(answer)
        return UsageMetadata(input_tokens=prompt, output_tokens=completion, total_tokens=prompt + completion)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        answer = self._answer(messages)
        message = AIMessage(content=answer, usage_metadata=self._usage(messages, answer))
        return ChatResult(generations=[ChatGeneration(message=message)], llm_output={"model_name": self.model_name})

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        answer = self._answer(messages)
        for piece in _pieces(answer, self.chunk_words):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk
        yield ChatGenerationChunk(
            message=AIMessageChunk(content="", usage_metadata=self._usage(messages, answer)),
            generation_info={"model_name": self.model_name},
        )


def _pieces(text: str, words_per_piece: int) -> Iterator[str]:
    """Split into word pieces that concatenate back to ``text`` exactly (whitespace kept)."""
    import re

    tokens = re.findall(r"\S+\s*|\s+", text)
    for i in range(0, len(tokens), words_per_piece):
        yield "".join(tokens[i : i + words_per_piece])
