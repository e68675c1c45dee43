"""Copilot with the local provider (SPEC §7, target < 150 ms to the first token): time to the first delta of
`apps.ai.copilot.suggestion_stream`, and how often it speaks from the right document or stays silent off topic.

Run: `cd /work/main && .venv/bin/python -m bench copilot_local` (about 2 min on 2 cores). A fresh data dir under
/tmp (dev settings, LLM_PROVIDER=local, the default embeddings), migrated, docs/knowledge ingested by the real
ingestion (the set-up of `bench bot`); the servers are stopped at the end.

For every question of docs/knowledge/eval/questions.json and off_topic.json, one customer message: its passages
come from `knowledge_search` (k=COPILOT_PASSAGES, timed apart: the orchestration's share), then the suggestion is
streamed and timed to its first delta, its first reply piece and its Done — "cold" (the per-process cache of
sentence vectors emptied before each question: passages never seen by this process) and "warm" (the same
questions again, after a pass that embedded every question's sentences once). Raw baseline in the same run: the embedding model embedding the question alone (the least any
embedding-based answer costs). Also: eval questions answered (not silent) with the right document cited first,
off-topic questions left silent.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

from bench._harness import in_process_main  # noqa: E402
from bench.bot import pct, setup  # noqa: E402
from bench.startup import BenchError  # noqa: E402


def _log(msg: str) -> None:
    print(f"[bench.copilot_local {dt.datetime.now(dt.UTC):%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def _stats(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50": pct(values, 50), "p95": pct(values, 95), "max": max(values, default=0.0)}


def measure() -> dict[str, Any]:
    from django.conf import settings

    from apps.ai.copilot import suggestion_stream
    from apps.ai.local import copilot as local_copilot
    from apps.ai.providers import embeddings_model_name, get_embeddings
    from apps.copilot.types import ContextMessage, CopilotContext, Done, Passage, ReplyDelta
    from apps.core.demo import DEMO_KNOWLEDGE_DIR
    from apps.knowledge.evaluation import load_json, load_questions, source_matches
    from apps.knowledge.models import Document
    from apps.knowledge.selectors import knowledge_search
    from apps.knowledge.services import knowledge_ingest_paths

    report = knowledge_ingest_paths([DEMO_KNOWLEDGE_DIR])
    if report.count("failed"):
        raise BenchError("the demo knowledge base did not ingest cleanly")
    by_title: dict[str, list[str]] = {}
    for doc in Document.objects.all():
        by_title.setdefault(doc.title, []).append(doc.source)
    embeddings = get_embeddings()
    embeddings.embed_query("warm-up: load the embedding model")

    items = [(q.question, q.language, q.source) for q in load_questions()]
    items += [(q["question"], q["language"], None) for q in load_json("off_topic.json")]
    contexts = []
    questions: list[str] = []
    retrieval_ms, baseline_ms = [], []
    for question, language, source in items:
        started = time.perf_counter()
        hits = knowledge_search(question, k=settings.COPILOT_PASSAGES).hits
        retrieval_ms.append((time.perf_counter() - started) * 1000)
        passages = [Passage(h.chunk_id, h.document.title, h.document.url or "", h.text, h.similarity) for h in hits]
        contexts.append(
            (CopilotContext([ContextMessage("client", question)], passages=passages, language=language), source)
        )
        questions.append(question)
        started = time.perf_counter()
        embeddings.embed_query(question)
        baseline_ms.append((time.perf_counter() - started) * 1000)

    passes: dict[str, dict[str, Any]] = {}
    rows = []
    for label in ("cold", "priming", "warm"):
        first, first_reply, done_ms = [], [], []
        for index, (context, source) in enumerate(contexts):
            if label == "cold":
                local_copilot._CACHES.clear()
            started = time.perf_counter()
            first_at = reply_at = None
            suggestion = None
            for delta in suggestion_stream(context):
                now = (time.perf_counter() - started) * 1000
                first_at = now if first_at is None else first_at
                if reply_at is None and isinstance(delta, ReplyDelta):
                    reply_at = now
                if isinstance(delta, Done):
                    suggestion = delta.suggestion
            done_ms.append((time.perf_counter() - started) * 1000)
            first.append(first_at or 0.0)
            if reply_at is not None:
                first_reply.append(reply_at)
            if label == "cold" and suggestion is not None:
                cited = suggestion.replies[0].citations[0].title if suggestion.replies else None
                right = source is not None and any(source_matches(s, source) for s in by_title.get(cited or "", []))
                sims = [p.similarity for p in context.passages if p.similarity is not None]
                rows.append(
                    {
                        "question": questions[index],
                        "source": source,
                        "silent": suggestion.silent,
                        "right": right,
                        "confidence": suggestion.confidence,
                        "top_similarity": context.passages[0].similarity if context.passages else None,
                        "best_similarity": max(sims, default=None),
                        "cited": cited,
                        "cold_first_delta_ms": first_at,
                    }
                )
        if label == "priming":  # every question's sentences embedded once: the next pass is all cache hits
            continue
        passes[label] = {
            "first_delta_ms": _stats(first),
            "first_reply_ms": _stats(first_reply),
            "done_ms": _stats(done_ms),
        }
    evals = [r for r in rows if r["source"] is not None]
    off = [r for r in rows if r["source"] is None]
    return {
        "model": embeddings_model_name(),
        "baseline_embed_question_ms": _stats(baseline_ms),
        "retrieval_ms": _stats(retrieval_ms),
        "passes": passes,
        "eval_n": len(evals),
        "eval_answered": sum(not r["silent"] for r in evals),
        "eval_right_first_citation": sum(r["right"] for r in evals),
        "off_topic_n": len(off),
        "off_topic_silent": sum(r["silent"] for r in off),
        "settings": {k: getattr(settings, k) for k in ("COPILOT_MIN_RETRIEVAL", "COPILOT_MIN_CONFIDENCE")},
        "off_topic_spoken": [r["question"] for r in off if not r["silent"]],
        "rows": rows,
    }


def report(r: dict[str, Any], machine: dict[str, str]) -> str:
    base = r["baseline_embed_question_ms"]["p50"]
    out = [
        f"Model {r['model']}; machine: {machine.get('cpu')}.",
        f"Raw baseline (embed the question alone) p50 {base:.1f} ms; retrieval (orchestration, not generation) "
        f"p50 {r['retrieval_ms']['p50']:.1f} ms.",
        "",
        "| pass | first delta p50 | p95 | max | first reply piece p50 | Done p50 | first delta p50 / baseline |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, p in r["passes"].items():
        f = p["first_delta_ms"]
        out.append(
            f"| {label} | {f['p50']:.1f} | {f['p95']:.1f} | {f['max']:.1f} | {p['first_reply_ms']['p50']:.1f} | "
            f"{p['done_ms']['p50']:.1f} | {f['p50'] / base:.1f}× |"
        )
    out += [
        "",
        f"Eval questions answered {r['eval_answered']}/{r['eval_n']}, right document cited first "
        f"{r['eval_right_first_citation']}/{r['eval_n']}; off-topic silent {r['off_topic_silent']}/{r['off_topic_n']} "
        f"(spoken: {r['off_topic_spoken']}).",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    return in_process_main(
        "copilot_local", argv, __doc__, setup, measure, report, _log, "ingesting and streaming the suggestions"
    )


if __name__ == "__main__":
    sys.exit(main())
