"""Knowledge search latency at 100,000 chunks: hybrid `knowledge_search` (HNSW + GIN) against an exact vector scan.

Run: `cd /work/main && .venv/bin/python -m bench search` (about 6 min on 2 cores; `--quick`: 20,000 chunks, about
2 min; `-h` for the options). Everything runs against the embedded PostgreSQL and Redis of a fresh data dir under
/tmp (`SUPPORTDESK_DATA_DIR`, `DATABASE_URL`/`REDIS_URL` unset, dev settings), migrated first and removed at the
end; the servers are stopped on success, on error and on Ctrl-C.

1. N synthetic chunks in N/100 documents (70 % French, 30 % English): text made of the demo knowledge base's
   sentences (docs/knowledge) shuffled, 8-16 sentences a chunk; unit vectors of EMBEDDING_DIM, random around a
   random centre per document (cosine about 0.6 to it), so that neighbourhoods mean something. Loaded with
   COPY while the HNSW and GIN indexes are dropped, then the full-text vectors are computed (the ingestion's
   weights and configurations), then both indexes are rebuilt with the migration's own definitions: each step timed.
   VACUUM ANALYZE at the end, as the ingestion analyzes (the text side picks its terms by these statistics).
2. Q queries (the eval questions' texts; vectors near a random stored chunk, cosine about 0.7, so that each has
   real neighbours: that chunk, then its document's other chunks) through the real `knowledge_search(q, k=5)` with
   a precomputed-vector embedder (the model is not measured here; `bench embedders` measures it): p50/p95 of the
   whole search and of its vector and text parts.
3. Baseline, same run, same queries: the same vector query as an exact scan (`SET LOCAL enable_indexscan = off`:
   sequential scan and sort), p50/p95, the speed-up, and HNSW's recall of the exact top 20.
4. The text part's bound, on 20 of the queries: chunks matched by the OR of all the question's words (the previous,
   unbounded query), by the OR of the terms kept (KNOWLEDGE_TEXT_TERMS), by the strict and by the fill query; the time of the
   uncapped ranking (every match ranked, as if KNOWLEDGE_TEXT_CANDIDATES were infinite) and the share of its top 20
   that the capped list keeps.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

from apps.core import embedded  # noqa: E402  (does not import Django)
from bench._harness import stop_embedded  # noqa: E402
from bench.startup import BenchError, _machine, _sigterm_as_interrupt  # noqa: E402

KB_DIR = BASE_DIR / "docs" / "knowledge"
MODEL = "bench-synthetic"
SEED = 20261122
K = 5


def _log(msg: str) -> None:
    print(f"[bench.search {dt.datetime.now(dt.UTC):%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def unit(matrix: Any) -> Any:
    import numpy as np

    return (matrix / np.linalg.norm(matrix, axis=-1, keepdims=True)).astype("float32")


def sentences() -> dict[str, list[str]]:
    """The demo knowledge base's sentences, by language (from the file names: *.fr.*, *.en.*)."""
    out: dict[str, list[str]] = {"fr": [], "en": []}
    for path in sorted(KB_DIR.glob("*.md")) + sorted(KB_DIR.glob("*.txt")):
        lang = "en" if ".en." in path.name else "fr"
        text = re.sub(r"^#+ .*$", " ", path.read_text(encoding="utf-8"), flags=re.M)
        for sentence in re.split(r"(?<=[.!?])\s+", " ".join(text.split())):
            if len(sentence.split()) >= 4:
                out[lang].append(sentence)
    return out


class Bench:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        self.tmp = tmp
        self.data_dir = tmp / "data"
        self.results: dict[str, Any] = {}

    def setup(self) -> None:
        self.data_dir.mkdir(parents=True)
        for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
            os.environ.pop(name, None)
        if (BASE_DIR / ".env").exists():
            os.environ.update(DATABASE_URL="", REDIS_URL="")  # empty == unset, and a .env cannot fill them
        os.environ.update(
            SUPPORTDESK_DATA_DIR=str(self.data_dir),
            DJANGO_SETTINGS_MODULE="supportdesk.settings.dev",
            LLM_PROVIDER="local",
            LOG_LEVEL="WARNING",
        )
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command

        if Path(settings.DATA_DIR).resolve() != self.data_dir.resolve() or not settings.EMBEDDED_DATABASE:
            raise BenchError(f"Django is not on the benchmark's data dir ({settings.DATA_DIR})")
        t0 = time.perf_counter()
        call_command("migrate", interactive=False, verbosity=0)
        self.results["migrate_s"] = time.perf_counter() - t0
        self.dim = int(settings.EMBEDDING_DIM)
        self.model = f"{MODEL}-{self.dim}"

    def sql(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    # ----------------------------------------------------------------- 1. data and indexes

    def load(self) -> None:
        import numpy as np
        from django.db import connection

        from apps.knowledge.models import Document

        n = self.args.chunks
        rng = random.Random(SEED)
        nrng = np.random.default_rng(SEED)
        pool = sentences()
        docs = max(1, n // 100)
        indexes = {
            name: self.sql("SELECT pg_get_indexdef(%s::regclass)", [name])[0][0]
            for name in ("chunk_embedding_hnsw", "chunk_search_vector_gin")
        }
        for name in indexes:
            self.sql(f"DROP INDEX {name}")
        t0 = time.perf_counter()
        langs = ["fr" if rng.random() < 0.7 else "en" for _ in range(docs)]
        Document.objects.bulk_create(
            [
                Document(title=f"Synthetic {i}", source=f"synthetic/{i}.{lang}.md", kind="markdown", language=lang,
                         status=Document.Status.READY)
                for i, lang in enumerate(langs)
            ],
            batch_size=1000,
        )  # fmt: skip
        doc_ids = list(Document.objects.order_by("pk").values_list("pk", "language"))
        self.vectors = np.empty((n, self.dim), dtype="float32")
        with connection.cursor() as cursor:
            raw = cursor.cursor  # psycopg 3
            copy_sql = (
                "COPY knowledge_chunk (document_id, ordinal, section, text, embedding, embedding_model) FROM STDIN"
            )
            with raw.copy(copy_sql) as copy:
                centres = unit(nrng.standard_normal((docs, self.dim)))
                for start in range(0, n, 5000):
                    rows = np.arange(start, min(n, start + 5000))
                    noise = unit(nrng.standard_normal((len(rows), self.dim)))
                    block = unit(0.6 * centres[rows % docs] + 0.8 * noise)  # cosine about 0.6 to its document's centre
                    self.vectors[start : start + len(block)] = block
                    for j, vec in enumerate(block):
                        i = start + j
                        doc_id, lang = doc_ids[i % docs]
                        text = " ".join(rng.sample(pool[lang], rng.randint(8, 16)))
                        literal = "[" + ",".join(f"{v:.6g}" for v in vec) + "]"
                        copy.write_row((doc_id, i // docs, f"Section {i % 37}", text, literal, self.model))
        self.results["copy_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        # The ingestion's full-text vector: title and section weight A, text weight B, the document's language.
        self.sql(
            "UPDATE knowledge_chunk c SET search_vector = "
            "setweight(to_tsvector(cfg::regconfig, d.title), 'A') || setweight(to_tsvector(cfg::regconfig, c.section), 'A')"
            " || setweight(to_tsvector(cfg::regconfig, c.text), 'B') "
            "FROM (SELECT id, title, CASE language WHEN 'en' THEN 'english' ELSE 'french' END AS cfg "
            "FROM knowledge_document) d WHERE d.id = c.document_id"
        )
        self.results["tsvector_s"] = time.perf_counter() - t0
        self.sql(f"SET maintenance_work_mem = '{self.args.maintenance_work_mem}'")
        for name, definition in indexes.items():
            t0 = time.perf_counter()
            self.sql(definition)
            self.results[f"build_{name}_s"] = time.perf_counter() - t0
            _log(f"{name}: built in {self.results[f'build_{name}_s']:.1f} s")
        self.sql("RESET maintenance_work_mem")
        self.sql("VACUUM ANALYZE knowledge_chunk")
        self.results["chunks"] = self.sql("SELECT count(*) FROM knowledge_chunk")[0][0]
        self.results["documents"] = docs
        self.results["table_size"] = self.sql("SELECT pg_size_pretty(pg_total_relation_size('knowledge_chunk'))")[0][0]
        self.results["index_sizes"] = {
            name: self.sql("SELECT pg_size_pretty(pg_relation_size(%s::regclass))", [name])[0][0] for name in indexes
        }
        self.results["indexdefs"] = indexes

    # ----------------------------------------------------------------- 2-3. queries

    def queries(self) -> None:
        import numpy as np
        from django.db import connection, transaction

        from apps.ai.local.text import content_words
        from apps.knowledge import selectors
        from apps.knowledge.evaluation import load_questions

        rng = np.random.default_rng(SEED + 1)
        texts = [q.question for q in load_questions()]
        texts = [texts[i % len(texts)] for i in range(self.args.queries)]
        vectors: dict[str, list[float]] = {}
        plan: list[tuple[str, list[float]]] = []
        for i, text in enumerate(texts):
            base = self.vectors[rng.integers(len(self.vectors))]
            noise = rng.standard_normal(self.dim).astype("float32")
            noise /= np.linalg.norm(noise)
            vec = base + noise  # cosine to its chunk about 0.7
            vec /= np.linalg.norm(vec)
            key = f"{text} #{i}"  # distinct texts, so each query has its own vector
            vectors[key] = vec.tolist()
            plan.append((key, vectors[key]))

        class Precomputed:
            def embed_query(self, text: str) -> list[float]:
                return vectors[text]

            def embed_documents(self, texts: list[str]) -> list[list[float]]:
                return [vectors[t] for t in texts]

        model = self.model
        selectors.get_embeddings = lambda: Precomputed()  # type: ignore[assignment]  # the bench's own process
        selectors.embeddings_model_name = lambda: model  # type: ignore[assignment]
        pool = max(20, K * 4)

        def exact(vec: list[float]) -> list[int]:
            literal = "[" + ",".join(f"{v:.7g}" for v in vec) + "]"
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL enable_indexscan = off")
                cursor.execute(
                    "SELECT c.id FROM knowledge_chunk c JOIN knowledge_document d ON d.id = c.document_id "
                    "WHERE c.embedding_model = %s ORDER BY c.embedding <=> %s::vector LIMIT %s",
                    [model, literal, pool],
                )
                return [int(r[0]) for r in cursor.fetchall()]

        plan_text = self.explain(plan[0][1], pool)
        for key, vec in plan[:5]:  # warm-up (caches)
            selectors.knowledge_search(key, k=K, min_similarity=-1.0)
            exact(vec)
        total, vector, text, exact_ms, overlap, rest = [], [], [], [], [], []
        for key, vec in plan:
            res = selectors.knowledge_search(key, k=K, min_similarity=-1.0)
            total.append(res.timings_ms["total"])
            vector.append(res.timings_ms["vector"])
            text.append(res.timings_ms["text"])
            rest.append(res.timings_ms["total"] - res.timings_ms["text"])
            t0 = time.perf_counter()
            truth = exact(vec)
            exact_ms.append((time.perf_counter() - t0) * 1000)
            approx = [c.chunk_id for c in selectors._vector_candidates(vec, model, pool, None, None)]
            overlap.append(len(set(approx) & set(truth)) / len(truth))
        self.results["latency_ms"] = {
            name: {"p50": pct(v, 50), "p95": pct(v, 95), "mean": sum(v) / len(v)}
            for name, v in (
                ("search", total),
                ("vector", vector),
                ("text", text),
                ("without_text", rest),
                ("exact", exact_ms),
            )
        }
        self.results["hnsw_recall_at_20"] = sum(overlap) / len(overlap)
        # What bounds the text part, and what the bound trades away, on 20 queries: how many chunks the OR of all the
        # question's words (the unbounded query of the previous version) matches; how many the OR of the selected
        # terms, the strict and the fill query match; and how much of the uncapped ranking (every match of the OR of the
        # selected terms ranked the same way, as if KNOWLEDGE_TEXT_CANDIDATES were infinite) the capped list keeps.
        from django.conf import settings

        def tsq(lexemes: list[str]) -> str:
            return " | ".join(selectors._tsquery_term(t) for t in lexemes)

        all_words, selected, strict, fill, uncapped_ms, kept = [], [], [], [], [], []
        for key, _ in plan[:20]:
            query = " ".join(key.split())
            words = " ".join(content_words(query))
            all_words.append(
                self.sql(
                    "SELECT count(*) FROM knowledge_chunk c WHERE c.search_vector @@ ("
                    "replace(plainto_tsquery('french', %s)::text, '&', '|')::tsquery || "
                    "replace(plainto_tsquery('english', %s)::text, '&', '|')::tsquery)",
                    [words, words],
                )[0][0]
            )
            terms = selectors.query_terms(query)[: settings.KNOWLEDGE_TEXT_TERMS]
            if not terms:
                continue
            loose = tsq([t.lexeme for t in terms])
            strict_query, fill_query = selectors.text_queries(terms)
            for counts, tsquery in ((selected, loose), (strict, strict_query), (fill, fill_query)):
                counts.append(
                    self.sql("SELECT count(*) FROM knowledge_chunk WHERE search_vector @@ %s::tsquery", [tsquery])[0][0]
                )
            order, order_params = selectors.text_rank_order(terms)
            t0 = time.perf_counter()
            full = self.sql(
                f"SELECT id FROM knowledge_chunk WHERE search_vector @@ %s::tsquery ORDER BY {order} LIMIT %s",  # noqa: S608
                [loose, *order_params, pool],
            )
            uncapped_ms.append((time.perf_counter() - t0) * 1000)
            capped = {c.chunk_id for c in selectors._text_candidates(query, pool, None, None)}
            kept.append(len(capped & {r[0] for r in full}) / max(1, len(full)))
        self.results["text_matches"] = {
            "p50": pct(all_words, 50),
            "max": max(all_words),
            "n": len(all_words),
            "selected_p50": pct(selected, 50) if selected else 0,
            "selected_max": max(selected, default=0),
            "strict_p50": pct(strict, 50) if strict else 0,
            "strict_max": max(strict, default=0),
            "fill_p50": pct(fill, 50) if fill else 0,
            "fill_max": max(fill, default=0),
            "uncapped_ms_p50": pct(uncapped_ms, 50) if uncapped_ms else 0.0,
            "uncapped_ms_p95": pct(uncapped_ms, 95) if uncapped_ms else 0.0,
            "kept_of_uncapped_top": sum(kept) / len(kept) if kept else 0.0,
            "terms": settings.KNOWLEDGE_TEXT_TERMS,
            "cap": settings.KNOWLEDGE_TEXT_CANDIDATES,
        }
        self.results["queries"] = len(plan)
        self.results["plans"] = plan_text

    def explain(self, vec: list[float], pool: int) -> dict[str, str]:
        from django.db import connection, transaction

        literal = "[" + ",".join(f"{v:.7g}" for v in vec) + "]"
        query = (
            "EXPLAIN SELECT c.id FROM knowledge_chunk c JOIN knowledge_document d ON d.id = c.document_id "
            "WHERE c.embedding_model = %s ORDER BY c.embedding <=> %s::vector LIMIT %s"
        )
        out = {}
        for name, setting in (("hnsw", "hnsw.ef_search = 80"), ("exact", "enable_indexscan = off")):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL {setting}")
                cursor.execute(query, [self.model, literal, pool])
                out[name] = re.sub(r"'\[[^\]]*\]'", "'[…]'", "\n".join(r[0] for r in cursor.fetchall()))
        return out

    def teardown(self) -> None:
        stop_embedded(self.data_dir)


def parse_args(argv: list[str]) -> argparse.Namespace:
    doc = (__doc__ or "").splitlines()[0]
    parser = argparse.ArgumentParser(prog="python -m bench search", description=doc)
    parser.add_argument("--quick", action="store_true", help="20,000 chunks instead of 100,000")
    parser.add_argument("--chunks", type=int, help="synthetic chunks [100000; --quick 20000]")
    parser.add_argument("--queries", type=int, default=200, help="timed searches [200]")
    parser.add_argument("--maintenance-work-mem", default="512MB", help="for the index builds [512MB]")
    parser.add_argument("--json", type=Path, default=None, help="results file (default bench/results/search-DATE.json)")
    args = parser.parse_args(argv)
    if args.chunks is None:
        args.chunks = 20_000 if args.quick else 100_000
    if args.chunks < 100 or args.queries < 10:
        parser.error("--chunks must be at least 100 and --queries at least 10")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="sdbench-search-", dir="/tmp")).resolve()
    bench = Bench(args, tmp)
    bench.results.update(machine=_machine(), load_before=os.getloadavg())
    status = 0
    try:
        with _sigterm_as_interrupt():
            _log(f"data dir {bench.data_dir}; {args.chunks:,} chunks")
            bench.setup()
            bench.load()
            _log("data loaded; timing the searches…")
            bench.queries()
    except KeyboardInterrupt:
        _log("interrupted; stopping the servers…")
        status = 130
    except BenchError as exc:
        _log(f"FAILED: {exc}")
        status = 1
    finally:
        bench.teardown()
        left = embedded.leftover_processes(bench.data_dir)
        if left:
            _log(f"WARNING, still alive: {[p.pid for p in left]}")
            status = status or 1
        shutil.rmtree(tmp, ignore_errors=True)
    bench.results["load_after"] = os.getloadavg()
    if status == 0:
        path = args.json or BASE_DIR / "bench" / "results" / f"search-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(bench.results, indent=1, default=str))
        print(report(bench.results, argv))
        _log(f"JSON: {path}")
    return status


def report(r: dict[str, Any], argv: list[str]) -> str:
    m, lat, tm = r["machine"], r["latency_ms"], r["text_matches"]
    speedup = lat["exact"]["p50"] / lat["vector"]["p50"] if lat["vector"]["p50"] else float("nan")
    target = "met" if lat["search"]["p95"] < 50 else "NOT met"
    lines = [
        "### Knowledge search (`bench/search.py`)",
        "",
        f"Command: `.venv/bin/python -m bench search{' ' + ' '.join(argv) if argv else ''}`",
        f"Date: {m['date']}. Machine: {m['nproc']} CPUs, {m['cpu']}, {m['memory']}, {m['os']}. Load average "
        f"before/after: {r['load_before'][0]:.1f} / {r['load_after'][0]:.1f}.",
        "",
        f"{r['chunks']:,} chunks in {r['documents']:,} documents; table + indexes {r['table_size']} (HNSW "
        f"{r['index_sizes']['chunk_embedding_hnsw']}, GIN {r['index_sizes']['chunk_search_vector_gin']}).",
        "",
        "| Step | Time |",
        "|---|---:|",
        f"| COPY of the chunks (indexes dropped) | {r['copy_s']:.1f} s |",
        f"| full-text vectors (UPDATE) | {r['tsvector_s']:.1f} s |",
        f"| HNSW index build (m=16, ef_construction=64) | {r['build_chunk_embedding_hnsw_s']:.1f} s |",
        f"| GIN index build | {r['build_chunk_search_vector_gin_s']:.1f} s |",
        "",
        f"{r['queries']} queries, k={K}, precomputed vectors (no model):",
        "",
        "| Measure | p50 (ms) | p95 (ms) |",
        "|---|---:|---:|",
        f"| `knowledge_search` total (vector + text + fusion + hydration) [target p95 < 50 ms: {target}] | "
        f"{lat['search']['p50']:.1f} | **{lat['search']['p95']:.1f}** |",
        f"| of which vector part (HNSW, ef_search 80) | {lat['vector']['p50']:.1f} | {lat['vector']['p95']:.1f} |",
        f"| of which text part (GIN, French + English, {tm['terms']} terms, at most {tm['cap']} chunks ranked) | "
        f"{lat['text']['p50']:.1f} | {lat['text']['p95']:.1f} |",
        f"| the search without its text part (embed + vector + fusion + hydration) | {lat['without_text']['p50']:.1f} | "
        f"{lat['without_text']['p95']:.1f} |",
        f"| baseline: the same vector query, exact scan (`enable_indexscan = off`) | {lat['exact']['p50']:.1f} | "
        f"{lat['exact']['p95']:.1f} |",
        "",
        f"Exact scan / HNSW vector part (p50): {speedup:.1f}x. HNSW's recall of the exact top 20: "
        f"{100 * r['hnsw_recall_at_20']:.1f} %.",
        "",
        f"Text part, {tm['n']} queries: the OR of all the question's words (previous query) matches a median of "
        f"{tm['p50']:,} chunks (at most {tm['max']:,}); the OR of the terms kept {tm['selected_p50']:,} (at most "
        f"{tm['selected_max']:,}); the strict query (two of the three most selective words) {tm['strict_p50']:,} (at "
        f"most {tm['strict_max']:,}); the fill query (the terms within the index budget) {tm['fill_p50']:,} (at most "
        f"{tm['fill_max']:,}). Ranking every match instead of {tm['cap']}: {tm['uncapped_ms_p50']:.0f} / "
        f"{tm['uncapped_ms_p95']:.0f} ms (p50 / p95); the capped list holds {100 * tm['kept_of_uncapped_top']:.0f} % "
        "of that ranking's top 20.",
    ]
    return "\n".join(lines)
