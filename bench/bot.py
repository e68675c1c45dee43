"""Bot first line on the demo knowledge base: how often it answers the eval questions from the right document,
how often it answers off-topic questions, and the BOT_MIN_SCORE calibration.

Run: `cd /work/main && .venv/bin/python -m bench bot` (about 2 min on 2 cores). Everything runs against the
embedded PostgreSQL and Redis of a fresh data dir under /tmp (dev settings, LLM_PROVIDER=local, the default
embeddings), migrated, with docs/knowledge ingested by the real ingestion; the servers are stopped at the end.

1. Every question of docs/knowledge/eval/questions.json (148) and off_topic.json (20) goes through the real
   `bot_respond(conversation=None, text=q)` with BOT_MIN_SCORE at -1, so that every question that reaches the
   knowledge step is answered and its score (the top passage's cosine similarity) recorded. Smart replies and
   escalations do not depend on the threshold.
2. For each threshold t (0.10 to 0.45, step 0.01), a knowledge answer is given when score >= t, else "no_answer":
   the share of eval questions answered, answered from the right document (the first source's document is the
   eval's `source` file; for smart replies, the rule's cited title), the precision, and the off-topic questions
   answered.
3. Calibration: the smallest multiple of 0.01 at least 0.01 above the highest score of an off-topic question that
   reaches the knowledge step (no off-topic question answered, with a margin).
4. Latency: p50/p95 of `bot_respond` per kind, at the calibrated threshold's decisions (same calls).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

from bench._harness import in_process_main  # noqa: E402
from bench.startup import BenchError  # noqa: E402


def _log(msg: str) -> None:
    print(f"[bench.bot {dt.datetime.now(dt.UTC):%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def setup(data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
        os.environ.pop(name, None)
    if (BASE_DIR / ".env").exists():
        os.environ.update(DATABASE_URL="", REDIS_URL="")
    os.environ.update(
        SUPPORTDESK_DATA_DIR=str(data_dir),
        DJANGO_SETTINGS_MODULE="supportdesk.settings.dev",
        LLM_PROVIDER="local",
        LOG_LEVEL="WARNING",
    )
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    if Path(settings.DATA_DIR).resolve() != data_dir.resolve() or not settings.EMBEDDED_DATABASE:
        raise BenchError(f"Django is not on the benchmark's data dir ({settings.DATA_DIR})")
    call_command("migrate", interactive=False, verbosity=0)


def measure() -> dict[str, Any]:
    from django.conf import settings
    from django.test.utils import override_settings

    from apps.ai.providers import embeddings_model_name
    from apps.bot.services import bot_min_score, bot_respond
    from apps.core.demo import DEMO_KNOWLEDGE_DIR
    from apps.knowledge.evaluation import load_json, load_questions, source_matches
    from apps.knowledge.models import Document
    from apps.knowledge.services import knowledge_ingest_paths

    t0 = time.perf_counter()
    report = knowledge_ingest_paths([DEMO_KNOWLEDGE_DIR])
    if report.count("failed"):
        raise BenchError("the demo knowledge base did not ingest cleanly")
    ingest_s = time.perf_counter() - t0
    by_title: dict[str, list[str]] = {}
    for doc in Document.objects.all():
        by_title.setdefault(doc.title, []).append(doc.source)

    def right(sources: list[dict[str, str]], expected: str | None) -> bool:
        if not sources or expected is None:
            return False
        return any(source_matches(s, expected) for s in by_title.get(sources[0]["title"], []))

    bot_respond(conversation=None, text="warm-up: load the embedding model")
    items = [(q.question, q.language, q.source) for q in load_questions()]
    items += [(q["question"], q["language"], None) for q in load_json("off_topic.json")]
    rows = []
    with override_settings(BOT_MIN_SCORE={"default": -1.0}):
        for question, language, source in items:
            started = time.perf_counter()
            reply = bot_respond(conversation=None, text=question)
            rows.append(
                {
                    "question": question,
                    "language": language,
                    "source": source,
                    "kind": reply.kind,
                    "reason": reply.escalate_reason,
                    "score": reply.score,
                    "right": right(reply.sources, source),
                    "ms": (time.perf_counter() - started) * 1000,
                }
            )
    model = embeddings_model_name()
    configured = bot_min_score(model)
    off_scores = [r["score"] for r in rows if r["source"] is None and r["kind"] in ("knowledge", "no_answer")]
    off_scores = [s for s in off_scores if s is not None]
    calibrated = round(math.ceil((max(off_scores, default=0.0) + 0.01) * 100 - 1e-9) / 100, 2)

    def at(threshold: float) -> dict[str, Any]:
        def answered(r: dict[str, Any]) -> bool:
            if r["kind"] == "smart":
                return True
            return r["kind"] == "knowledge" and r["score"] is not None and r["score"] >= threshold

        ev = [r for r in rows if r["source"] is not None]
        off = [r for r in rows if r["source"] is None]
        ans = [r for r in ev if answered(r)]
        ok = [r for r in ans if r["right"]]
        out = {
            "threshold": threshold,
            "n": len(ev),
            "answered": len(ans),
            "right": len(ok),
            "precision": len(ok) / len(ans) if ans else 0.0,
            "escalated": sum(r["kind"] == "escalation" for r in ev),
            "off_topic_answered": sum(answered(r) for r in off),
            "off_topic_n": len(off),
        }
        for lang in ("fr", "en"):
            sub = [r for r in ev if r["language"] == lang]
            out[f"right_{lang}"] = sum(answered(r) and r["right"] for r in sub)
            out[f"n_{lang}"] = len(sub)
        return out

    sweep = [at(round(t / 100, 2)) for t in range(10, 46)]

    def kind_at(r: dict[str, Any], threshold: float) -> str:
        if r["kind"] == "knowledge" and (r["score"] is None or r["score"] < threshold):
            return "no_answer"
        return str(r["kind"])

    latency: dict[str, dict[str, float]] = {}
    for kind in ("smart", "knowledge", "no_answer", "escalation"):
        ms = [r["ms"] for r in rows if kind_at(r, configured) == kind]
        latency[kind] = {"n": len(ms), "p50": pct(ms, 50), "p95": pct(ms, 95)}
    return {
        "model": model,
        "configured": configured,
        "calibrated": calibrated,
        "max_off_topic_score": max(off_scores, default=None),
        "at_configured": at(configured),
        "at_calibrated": at(calibrated),
        "sweep": sweep,
        "escalations": [(r["question"], r["reason"]) for r in rows if r["kind"] == "escalation"],
        "smart": [r["question"] for r in rows if r["kind"] == "smart"],
        "latency_ms": latency,
        "ingest_s": ingest_s,
        "settings": {k: getattr(settings, k) for k in ("BOT_TOP_K", "BOT_PASSAGES", "BOT_MAX_SENTENCES")},
        "rows": rows,
    }


def report(r: dict[str, Any], machine: dict[str, str]) -> str:
    def line(s: dict[str, Any]) -> str:
        return (
            f"| {s['threshold']:.2f} | {s['answered']} ({s['answered'] / s['n']:.1%}) | {s['right']} "
            f"({s['right'] / s['n']:.1%}) | {s['right_fr']}/{s['n_fr']} | {s['right_en']}/{s['n_en']} | "
            f"{s['precision']:.1%} | {s['off_topic_answered']}/{s['off_topic_n']} |"
        )

    out = [
        f"Model {r['model']}; BOT_MIN_SCORE configured {r['configured']}, calibrated {r['calibrated']} "
        f"(highest off-topic score {r['max_off_topic_score']}). Machine: {machine.get('cpu')}.",
        "",
        "| BOT_MIN_SCORE | eval answered | right document | right, fr | right, en | precision | off-topic answered |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    out += [line(s) for s in r["sweep"] if s["threshold"] in (0.16, 0.20, 0.22, 0.24, 0.26, 0.28, 0.30, 0.35, 0.40)]
    out += ["", "At the configured threshold:", line(r["at_configured"]), ""]
    out.append(f"Escalated eval questions ({len(r['escalations'])}): {r['escalations']}")
    out.append(f"Smart replies: {r['smart']}")
    out.append("Latency of bot_respond (ms): " + ", ".join(
        f"{k} n={v['n']} p50={v['p50']:.0f} p95={v['p95']:.0f}" for k, v in r["latency_ms"].items()
    ))  # fmt: skip
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    return in_process_main("bot", argv, __doc__, setup, measure, report, _log, "ingesting and asking the questions")


if __name__ == "__main__":
    sys.exit(main())
