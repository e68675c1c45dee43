"""Labeling pipeline (SPEC §5): queue throughput, global rate limit, statistics rollup, label resolution, webhook.

Run: `cd /work/main && .venv/bin/python -m bench labels` (about 12 min on 2 idle cores; `--quick` about 3-4 min;
`-h` for the options). Everything runs against the embedded PostgreSQL and Redis of a fresh temporary data dir under
/tmp (`SUPPORTDESK_DATA_DIR`, `DATABASE_URL`/`REDIS_URL` unset, `LLM_PROVIDER=local`, dev settings), migrated first
and removed at the end. This process loads Django on that data dir; Celery workers and daphne are its children, on
ports picked at run time. Every process started is stopped on success, on error and on Ctrl-C; every wait is
bounded. The figures are printed as Markdown tables on stdout and a JSON copy goes to bench/results/.

Measured, each against a raw baseline taken in the same run:
1. queue throughput: N conversations (2-8 French/English messages each) go through the real intake service
   (`imported_conversation_intake`), then a real `celery -A supportdesk worker -Q default,conversations -c C` drains
   them (LABELS_RATE_LIMIT=1000000) for at most --drain-timeout seconds: jobs/s from "worker ready" (and from the
   first finished job) to the last `finished_at`, per-job latency, what the database sessions wait on. Raw baseline:
   N `apps.core.tasks.ping` tasks enqueued, then drained by the same worker command (tasks/s). Reference: the same
   `labeling_job_run` in a loop in this process, without Celery.
2. global rate limit: two workers, LABELS_RATE_LIMIT=L, J jobs, observed for at most --rl-observe seconds: the most
   permits the limiter granted (its Redis sorted set, sampled), jobs started and jobs finished in any sliding 60 s
   window, against L; jobs stored per worker from the workers' logs.
3. statistics: R conversation labels bulk-loaded (12 months, ~2,000 labels with Zipf popularity, aliases),
   `label_rollup_rebuild()` timed, then `label_top_for_month` (rollup) against `label_top_for_month_raw`
   (GROUP BY over the raw rows, the baseline): same answer, p50/p95, speed-up.
4. label resolution: K labels with random unit vectors (HNSW index build timed), then `label_resolve` for 500 new
   names with a precomputed-vector embedder; baseline: the bare pgvector `ORDER BY embedding <=> v LIMIT 1` query
   through psycopg with the same vectors. The real default embedder is timed separately on short labels.
5. webhook: daphne with CRISP_WEBHOOK_KEY; distinct valid payloads to `/webhooks/crisp/conversation.closed` (202),
   the same payloads again (200 duplicate), against `/healthz` on the same server (the baseline): requests/s, latency.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import random
import re
import secrets
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

from bench._harness import (  # noqa: E402
    Child,
    Harness,
    bench_main,
    command_line,
    free_g,
    pct,
    phases_line,
    write_json,
)
from bench.startup import BenchError, Tracker, _machine, _pick_ports, _tail  # noqa: E402

PHASES = ("throughput", "ratelimit", "stats", "resolve", "webhook")
CONVERSATIONS_QUEUE = "conversations"
DEFAULT_QUEUE = "default"
UNACKED = "unacked"  # kombu's Redis hash of the messages a worker holds (acks_late, ETA)
TASK_RESULT_RE = re.compile(r"succeeded in ([0-9.e-]+)s: (?:'(\w+)'|(\{))")
SEED = 20261122


# --------------------------------------------------------------------------- small helpers


def _log(msg: str) -> None:
    print(f"bench.labels: {msg}", file=sys.stderr, flush=True)


def _ms(v: float | None) -> str:
    return "n/a" if v is None else (f"{v * 1000:,.2f} ms" if v < 0.1 else f"{v * 1000:,.0f} ms")


def _s(v: float | None) -> str:
    return "n/a" if v is None else f"{v:,.2f} s"


def _rate(v: float | None, unit: str) -> str:
    return "n/a" if v is None else f"{v:,.1f} {unit}"


def _x(a: float | None, b: float | None) -> str:
    return "n/a" if not a or not b else f"{a / b:,.1f}x"


def _n(v: int | float) -> str:
    return f"{v:,}"


def max_in_window(times: list[float], window: float = 60.0) -> tuple[int, float | None]:
    """The most events in any sliding window [t, t + window) and where such a window starts."""
    s = sorted(times)
    best, start, j = 0, None, 0
    for i, t in enumerate(s):
        while j < len(s) and s[j] < t + window:
            j += 1
        if j - i > best:
            best, start = j - i, t
    return best, start


# --------------------------------------------------------------------------- realistic conversations

_FR_USER = {
    "paiement": [
        "Bonjour, ma carte bancaire a été refusée au moment du paiement de ma commande {order}.",
        "Le paiement ne passe pas, j'ai essayé deux fois avec ma carte bleue.",
        "J'ai été prélevé mais la commande apparaît toujours comme non payée.",
    ],
    "livraison": [
        "Mon colis devait être livré le {day} et je n'ai toujours rien reçu.",
        "Le suivi de colis n'a pas bougé depuis trois jours, le livreur est passé ?",
        "La livraison est en retard, ma commande {order} est bloquée au point relais.",
    ],
    "connexion": [
        "Je n'arrive plus à me connecter à mon compte depuis ce matin.",
        "Impossible de me connecter, le mot de passe est refusé alors que je l'ai changé hier.",
        "Je ne reçois pas le code de connexion par sms.",
    ],
    "remboursement": [
        "J'ai renvoyé l'article il y a deux semaines, quand serai-je remboursé ?",
        "Je demande le remboursement de ma commande {order}, le produit est défectueux.",
    ],
    "facture": [
        "Il y a une erreur sur ma facture de {month}, j'ai été facturé deux fois.",
        "Pouvez-vous m'envoyer la facture de ma commande {order} ?",
    ],
    "abonnement": [
        "Je souhaite résilier mon abonnement, comment faire ?",
        "Mon forfait a augmenté sans prévenir, je veux changer d'abonnement.",
    ],
    "internet": [
        "Ma box internet redémarre sans arrêt, la connexion wifi coupe toutes les dix minutes.",
        "Panne internet depuis hier soir, le voyant de la box est rouge.",
    ],
    "produit": [
        "L'aspirateur que j'ai reçu ne s'allume pas, l'aspirateur est neuf pourtant.",
        "La trottinette électrique fait un bruit bizarre, la trottinette a deux semaines.",
        "Le lave-vaisselle affiche une erreur E24, le lave-vaisselle ne vidange plus.",
    ],
    "application": [
        "L'application plante dès que j'ouvre mes commandes.",
        "Je ne trouve pas où modifier mon adresse de livraison dans l'application.",
    ],
}
_EN_USER = {
    "payment": [
        "Hi, my card was declined when I tried to pay for order {order}.",
        "The payment keeps failing, I tried twice with my credit card.",
        "I was charged but the order still shows as unpaid.",
    ],
    "delivery": [
        "My parcel was supposed to arrive on {day} and I still have nothing.",
        "The tracking number has not moved for three days, where is my package?",
        "Delivery is late, order {order} seems stuck at the pickup point.",
    ],
    "login": [
        "I can't log in to my account since this morning.",
        "Login fails, it says my password is wrong although I reset it yesterday.",
    ],
    "refund": [
        "I sent the item back two weeks ago, when will I get my refund?",
        "I want a refund for order {order}, the product arrived broken.",
    ],
    "invoice": [
        "There is a mistake on my {month} invoice, I was billed twice.",
        "Could you send me the invoice for order {order}?",
    ],
    "subscription": [
        "I would like to cancel my subscription, how do I do that?",
        "My plan price went up without notice, I want to change my subscription.",
    ],
    "product": [
        "The blender I received does not turn on, the blender is brand new.",
        "My headphones stopped charging, the headphones are only a month old.",
    ],
}
_FR_SUPPORT = [
    "Bonjour, merci pour votre message. Pouvez-vous me donner votre numéro de commande ?",
    "Je comprends, je regarde cela tout de suite.",
    "Merci, j'ai transmis votre demande au service concerné.",
    "Pouvez-vous essayer de vider le cache et de réessayer ?",
    "C'est corrigé de notre côté, pouvez-vous vérifier ?",
]
_EN_SUPPORT = [
    "Hello, thanks for reaching out. Could you share your order number?",
    "I understand, let me check that for you.",
    "Thanks, I have forwarded your request to the right team.",
    "Could you try clearing the cache and trying again?",
    "It is fixed on our side, could you check?",
]
_FR_FOLLOW = [
    "Merci, c'est le {order}.",
    "Toujours pareil malheureusement.",
    "D'accord, merci beaucoup.",
    "Ça marche, merci !",
]
_EN_FOLLOW = ["Thanks, it's {order}.", "Still the same, unfortunately.", "Okay, thank you.", "Works now, thanks!"]
_MONTHS_FR = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "septembre", "octobre", "novembre"]
_MONTHS_EN = ["January", "February", "March", "April", "May", "June", "July", "September", "October", "November"]


def conversation(rng: random.Random) -> list[tuple[str, str]]:
    """2-8 messages of a realistic support conversation, French (65 %) or English, one or two topics."""
    fr = rng.random() < 0.65
    users, support, follow = (_FR_USER, _FR_SUPPORT, _FR_FOLLOW) if fr else (_EN_USER, _EN_SUPPORT, _EN_FOLLOW)
    months = _MONTHS_FR if fr else _MONTHS_EN
    topics = rng.sample(sorted(users), k=1 if rng.random() < 0.7 else 2)

    def fill(text: str) -> str:
        return text.format(
            order=f"{rng.choice('ABCDEFGH')}{rng.randint(10000, 99999)}",
            day=f"{rng.randint(1, 28)} {rng.choice(months)}",
            month=rng.choice(months),
        )

    n = rng.randint(2, 8)
    out: list[tuple[str, str]] = [("user", fill(rng.choice(users[topics[0]])))]
    while len(out) < n:
        if out[-1][0] == "user":
            out.append(("support", fill(rng.choice(support))))
        elif len(topics) > 1 and rng.random() < 0.5:
            out.append(("user", fill(rng.choice(users[topics.pop()]))))
        else:
            out.append(("user", fill(rng.choice(follow + users[topics[0]]))))
    return out


# --------------------------------------------------------------------------- child processes


def worker(
    name: str, concurrency: int, tracker: Tracker, logs: Path, env: dict[str, str], children: list[Child]
) -> Child:
    """The worker command of `manage.py runstack` (queues default + conversations, events, INFO logs)."""
    cmd = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "supportdesk",
        "worker",
        "-Q",
        f"{DEFAULT_QUEUE},{CONVERSATIONS_QUEUE}",
    ]
    cmd += ["-c", str(concurrency), "-E", "-l", "INFO", "-n", f"{name}@%h"]
    child = Child(name, cmd, env, tracker, logs / f"{name}.log")
    children.append(child)
    child.start()
    return child


def wait_worker_ready(child: Child, timeout: float) -> float:
    return child.wait_for(
        lambda s: f"{child.label}@" in s and s.rstrip().endswith("ready."), timeout, f"{child.label} ready"
    )


def task_results(child: Child) -> Counter[str]:
    out: Counter[str] = Counter()
    for line in child.lines():
        m = TASK_RESULT_RE.search(line)
        if m:
            out[m.group(2) or "dict"] += 1
    return out


# --------------------------------------------------------------------------- the benchmark


class Bench(Harness):
    # ----------------------------------------------------------------- setup

    def setup(self) -> None:
        """`manage.py migrate` on the fresh data dir, then Django in this process on the same data dir."""
        self.migrate_and_load_django()
        import redis
        from django.conf import settings

        self.redis = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=10)
        self.results["settings"] = {
            "EMBEDDING_DIM": settings.EMBEDDING_DIM,
            "LABELS_BATCH_SIZE": settings.LABELS_BATCH_SIZE,
            "LABELS_MAX_TOKENS": settings.LABELS_MAX_TOKENS,
            "LLM_PROVIDER": settings.LLM_PROVIDER,
            "EMBEDDINGS_PROVIDER": settings.EMBEDDINGS_PROVIDER,
        }

    def sql(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def reset_limiter(self) -> None:
        from apps.core import ratelimit

        ratelimit.reset("labels")

    def queues_empty(self) -> bool:
        return (self.redis.llen(CONVERSATIONS_QUEUE) + self.redis.llen(DEFAULT_QUEUE) + self.redis.hlen(UNACKED)) == 0

    def sample_waits(self, into: Counter[str]) -> None:
        """What the other database sessions are doing now (state and wait event), counted once per session."""
        for state, wtype, event in self.sql(
            "SELECT state, wait_event_type, wait_event FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        ):
            into[f"{state}: {wtype}/{event}" if wtype else f"{state}: no wait"] += 1

    def zscores(self, key: str) -> dict[bytes, float]:
        raw: Any = self.redis.zrange(key, 0, -1, withscores=True)
        return {member: float(score) for member, score in raw}

    def worker_env(self, **extra: str) -> dict[str, str]:
        env = dict(self.env)
        env.update(extra)
        return env

    # ----------------------------------------------------------------- 1. throughput

    def phase_throughput(self) -> None:
        args = self.args
        out: dict[str, Any] = {"jobs": args.jobs, "concurrency": args.concurrency, "baseline_tasks": args.jobs}
        self.results["throughput"] = out
        from apps.core.tasks import ping

        # Raw baseline: N no-op tasks through the same broker, drained by the same worker command.
        _log(f"throughput: enqueueing {args.jobs:,} ping tasks…")
        t0 = time.perf_counter()
        ids = [ping.apply_async().id for _ in range(args.jobs)]
        out["ping_enqueue_per_s"] = args.jobs / (time.perf_counter() - t0)
        w = worker("ping", args.concurrency, self.tracker, self.logs, self.worker_env(), self.children)
        ready = wait_worker_ready(w, args.timeout)
        deadline = time.monotonic() + args.timeout
        while not self.queues_empty():
            if time.monotonic() > deadline:
                raise BenchError(f"ping tasks not drained within {args.timeout:.0f} s; log: {w.log}")
            time.sleep(0.2)
        w.stop()
        done_at = []
        for i in range(0, len(ids), 1000):
            for raw in self.redis.mget([f"celery-task-meta-{t}" for t in ids[i : i + 1000]]):
                if raw:
                    meta = json.loads(raw)
                    if meta.get("status") == "SUCCESS" and meta.get("date_done"):
                        done_at.append(dt.datetime.fromisoformat(meta["date_done"]).timestamp())
        if len(done_at) != args.jobs:
            raise BenchError(f"only {len(done_at)} of {args.jobs} ping tasks succeeded; log: {w.log}")
        out["ping_drain_s"] = max(done_at) - ready
        out["ping_steady_per_s"] = (len(done_at) - 1) / (max(done_at) - min(done_at)) if len(done_at) > 1 else None
        out["ping_per_s"] = args.jobs / out["ping_drain_s"]
        out["ping_task_results"] = dict(task_results(w))
        _log(f"throughput: ping drained at {out['ping_per_s']:.0f} tasks/s")

        # The labeling pipeline: intake of N conversations, then a worker drains the queue.
        from apps.labels.models import LabelingJob
        from apps.labels.services import imported_conversation_intake

        rng = random.Random(SEED)
        convs = [conversation(rng) for _ in range(args.jobs)]
        out["messages_per_conversation"] = statistics.mean(len(c) for c in convs)
        _log(f"throughput: intake of {args.jobs:,} conversations…")
        lat: list[float] = []
        t0 = time.perf_counter()
        statuses: Counter[str] = Counter()
        for i, messages in enumerate(convs):
            t = time.perf_counter()
            r = imported_conversation_intake(external_id=f"bench-q-{i:06d}", messages=messages)
            lat.append(time.perf_counter() - t)
            statuses[r.status] += 1
        total = time.perf_counter() - t0
        out.update(intake_per_s=args.jobs / total, intake_p50=pct(lat, 50), intake_p99=pct(lat, 99))
        out["intake_statuses"] = dict(statuses)
        queued = self.redis.llen(CONVERSATIONS_QUEUE)
        out["tasks_in_queue_before_worker"] = queued
        self.reset_limiter()
        w = worker(
            "labels",
            args.concurrency,
            self.tracker,
            self.logs,
            self.worker_env(LABELS_RATE_LIMIT="1000000"),
            self.children,
        )
        ready = wait_worker_ready(w, args.timeout)
        _log(f"throughput: worker (-c {args.concurrency}) ready, draining {queued:,} tasks…")
        finals = (LabelingJob.Status.DONE, LabelingJob.Status.FAILED, LabelingJob.Status.DUPLICATE)
        deadline = time.monotonic() + args.drain_timeout
        idle_since: float | None = None
        lost = 0
        bounded = False
        waits: Counter[str] = Counter()
        last_report = time.monotonic()
        while True:
            counts = Counter(dict(LabelingJob.objects.values_list("status").annotate(n=_count_id())))
            pending = counts[LabelingJob.Status.QUEUED] + counts[LabelingJob.Status.RUNNING]
            if pending == 0:
                break
            if time.monotonic() - last_report > 30:
                _log(f"throughput: {sum(counts[s] for s in finals):,} finished, {pending:,} pending")
                last_report = time.monotonic()
            if self.queues_empty():  # nothing left to run, yet jobs are not finished: lost jobs (or a crash)
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > 20:
                    lost = pending
                    _log(f"throughput: queue empty but {pending} jobs not finished: lost jobs")
                    break
            else:
                idle_since = None
            if time.monotonic() > deadline:
                bounded = True
                _log(f"throughput: drain bound of {args.drain_timeout:.0f} s reached with {pending:,} jobs pending")
                break
            for _ in range(2):
                self.sample_waits(waits)
                time.sleep(0.5)
        w.stop(timeout=10)  # the jobs still running are not counted; no need to wait for them
        rows: list[Any] = list(
            LabelingJob.objects.values_list("status", "created_at", "started_at", "finished_at", "attempts")
        )
        fin = [r for r in rows if r[0] in finals and r[3] is not None]
        if not fin:
            raise BenchError(f"no labeling job finished; log: {w.log}\n{_tail(w.log)}")
        last = max(r[3] for r in fin).timestamp()
        out["statuses"] = dict(Counter(r[0] for r in rows))
        out["finished"] = len(fin)
        out["drain_bounded"] = bounded
        out["lost_jobs"] = lost
        out["jobs_attempted_twice_or_more"] = sum(1 for r in rows if r[4] >= 2)
        out["drain_s"] = last - ready
        out["jobs_per_s"] = len(fin) / out["drain_s"]
        first = min(r[3] for r in fin).timestamp()
        out["warmup_s"] = first - ready  # worker ready -> first job finished (each pool process loads its models)
        out["steady_jobs_per_s"] = (len(fin) - 1) / (last - first) if len(fin) > 1 and last > first else None
        e2e = [(r[3] - r[1]).total_seconds() for r in fin]
        svc = [(r[3] - r[2]).total_seconds() for r in fin if r[2] is not None]
        out.update(
            latency_p50=pct(e2e, 50), latency_p99=pct(e2e, 99), service_p50=pct(svc, 50), service_p99=pct(svc, 99)
        )
        total_waits = sum(waits.values())
        out["db_backend_states"] = (
            {k: round(v / total_waits, 3) for k, v in waits.most_common(6)} if total_waits else {}
        )
        out["task_results"] = dict(task_results(w))
        out["labels_created"] = self.sql("SELECT count(*) FROM labels_label")[0][0]
        out["conversation_labels"] = self.sql("SELECT count(*) FROM labels_conversationlabel")[0][0]
        out["ratio_ping_over_jobs"] = out["ping_per_s"] / out["jobs_per_s"] if out["jobs_per_s"] else None
        _log(
            f"throughput: {len(fin):,} jobs in {out['drain_s']:.1f} s = {out['jobs_per_s']:.1f} jobs/s "
            f"(ping {out['ping_per_s']:.0f}/s), statuses {out['statuses']}, DB backends {out['db_backend_states']}"
        )

        # Reference: the same service code (`labeling_job_run`) in this one process, no Celery, no concurrency.
        out["not_reached_closed"] = LabelingJob.objects.filter(status__in=("queued", "running")).update(
            status=LabelingJob.Status.FAILED, error="BenchLeftover"
        )
        self.redis.delete(CONVERSATIONS_QUEUE)
        from apps.ai.providers import get_embeddings
        from apps.ai.tokens import count_tokens
        from apps.labels.services import labeling_job_run

        for i in range(args.ref_jobs):
            imported_conversation_intake(external_id=f"bench-r-{i:06d}", messages=conversation(rng))
        self.redis.delete(CONVERSATIONS_QUEUE)  # their tasks: this process runs the jobs itself
        ref_ids = [
            int(pk) for pk in LabelingJob.objects.filter(status="queued").order_by("pk").values_list("pk", flat=True)
        ]
        get_embeddings().embed_query("paiement")  # model loads are not part of the reference
        count_tokens("paiement")
        t0 = time.perf_counter()
        for job_id in ref_ids:
            labeling_job_run(job_id)
        elapsed = time.perf_counter() - t0
        out["inprocess_jobs"] = LabelingJob.objects.filter(pk__in=ref_ids, status__in=finals).count()
        out["inprocess_jobs_per_s"] = out["inprocess_jobs"] / elapsed
        _log(f"throughput: in-process reference {out['inprocess_jobs_per_s']:.1f} jobs/s")

    # ----------------------------------------------------------------- 2. rate limit

    def phase_ratelimit(self) -> None:
        args = self.args
        limit, jobs = args.rl_limit, args.rl_jobs
        out: dict[str, Any] = {"limit": limit, "jobs": jobs, "workers": 2, "concurrency_each": args.rl_concurrency}
        self.results["ratelimit"] = out
        from apps.labels.models import LabelingJob
        from apps.labels.services import imported_conversation_intake

        # Start from an empty queue and an empty limiter: this phase's jobs are the only ones. Jobs an earlier phase
        # left unfinished are closed, or a worker here would take them as batch companions.
        self.redis.delete(CONVERSATIONS_QUEUE)
        out["earlier_jobs_closed"] = LabelingJob.objects.filter(status__in=("queued", "running")).update(
            status=LabelingJob.Status.FAILED, error="BenchLeftover"
        )
        self.reset_limiter()
        env = self.worker_env(LABELS_RATE_LIMIT=str(limit))
        ws = [worker(f"rl{i}", args.rl_concurrency, self.tracker, self.logs, env, self.children) for i in (1, 2)]
        for w in ws:
            wait_worker_ready(w, args.timeout)
        rng = random.Random(SEED + 1)
        first_id = (LabelingJob.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
        t_enqueue = time.time()
        for i in range(jobs):
            imported_conversation_intake(external_id=f"bench-rl-{i:04d}", messages=conversation(rng))
        _log(f"ratelimit: {jobs} jobs queued for 2 workers at {limit}/min; observing up to {args.rl_observe:.0f} s…")
        expected = (math.ceil(jobs / limit) - 1) * 60.0
        out["ideal_s"] = expected
        out["observe_s"] = args.rl_observe
        qs = LabelingJob.objects.filter(pk__gte=first_id)
        # The limiter's own events: members of its Redis sorted set, scored with Redis' clock. Each stays 60 s in
        # the set, so sampling every 0.5 s sees every permit ever granted.
        key = "supportdesk:ratelimit:labels"
        permits: dict[bytes, float] = {}
        bounded = False
        while True:
            permits.update(self.zscores(key))
            if not qs.filter(status__in=("queued", "running")).exists():
                break
            if time.time() - t_enqueue > args.rl_observe:
                bounded = True
                break
            time.sleep(0.5)
        permits.update(self.zscores(key))
        for w in ws:
            w.stop()
        self.redis.delete(CONVERSATIONS_QUEUE)  # tasks still deferred when the observation ended
        rows: list[Any] = list(qs.values_list("status", "started_at", "finished_at"))
        finished = sorted(r[2].timestamp() for r in rows if r[2] is not None and r[0] == "done")
        started = sorted(r[1].timestamp() for r in rows if r[1] is not None and r[0] == "done")
        grants = sorted(permits.values())
        out["statuses"] = dict(Counter(r[0] for r in rows))
        out["finished"] = len(finished)
        out["observation_bounded"] = bounded
        out["elapsed_s"] = (max(finished) - t_enqueue) if finished else None
        out["permits"] = len(grants)
        out["max_permits_per_60s"], _ = max_in_window(grants)
        out["max_finished_per_60s"], _ = max_in_window(finished)
        out["max_started_per_60s"], _ = max_in_window(started)
        out["permits_per_minute"] = [sum(1 for g in grants if i * 60 <= g - t_enqueue < (i + 1) * 60) for i in range(4)]
        out["finished_per_minute"] = [
            sum(1 for f in finished if i * 60 <= f - t_enqueue < (i + 1) * 60) for i in range(4)
        ]
        out["times_from_enqueue"] = {
            "permits": [round(g - t_enqueue, 3) for g in grants],
            "started": [round(t - t_enqueue, 3) for t in started],
            "finished": [round(f - t_enqueue, 3) for f in finished],
        }
        per_worker: dict[str, int] = {}
        results: dict[str, dict[str, int]] = {}
        for w in ws:
            per_worker[w.label] = sum(1 for line in w.lines() if "labels: stored" in line)
            results[w.label] = dict(task_results(w))
        out["stored_per_worker"] = per_worker
        out["task_results_per_worker"] = results
        _log(
            f"ratelimit: {len(finished)}/{jobs} done; max per 60 s: permits {out['max_permits_per_60s']}, "
            f"finished {out['max_finished_per_60s']}, started {out['max_started_per_60s']} (limit {limit}); "
            f"{len(grants)} permits; per worker {per_worker}; results {results}"
        )

    # ----------------------------------------------------------------- 3. statistics

    def phase_stats(self) -> None:
        import numpy as np
        from django.conf import settings
        from django.db import connection
        from django.utils import timezone

        from apps.labels.models import Label
        from apps.labels.selectors import label_top_for_month, label_top_for_month_raw
        from apps.labels.services import label_rollup_rebuild

        args = self.args
        rows_target, n_labels = args.stats_rows, args.stats_labels
        out: dict[str, Any] = {"target_rows": rows_target, "labels": n_labels}
        self.results["stats"] = out
        rng = np.random.default_rng(SEED)
        _log(f"stats: loading {rows_target:,} conversation labels…")
        t0 = time.perf_counter()
        # ~2,000 labels; 5 % are approved aliases of a more popular label, 2 % pending proposals.
        now = timezone.now()
        Label.objects.bulk_create(
            [Label(name=f"sujet {i:05d}", embedding_model="") for i in range(n_labels)], batch_size=2000
        )
        ids = np.array(
            [pk for (pk,) in self.sql("SELECT id FROM labels_label WHERE name LIKE 'sujet %%' ORDER BY name")]
        )
        ranks = np.arange(1, n_labels + 1)
        alias_ranks = rng.choice(np.arange(50, n_labels), size=n_labels // 20, replace=False)
        proposed_ranks = rng.choice(
            np.setdiff1d(np.arange(50, n_labels), alias_ranks), size=n_labels // 50, replace=False
        )
        with connection.cursor() as cur:
            for status, chosen in (("approved", alias_ranks), ("proposed", proposed_ranks)):
                targets = rng.integers(0, 50, size=len(chosen))
                cur.executemany(
                    "UPDATE labels_label SET alias_of_id = %s, status = %s WHERE id = %s",
                    [(int(ids[t]), status, int(ids[c])) for c, t in zip(chosen, targets, strict=True)],
                )
        out["approved_aliases"] = len(alias_ranks)
        out["proposed_aliases"] = len(proposed_ranks)
        n_convs = int(rows_target / 2.5)
        # Conversations spread uniformly over the last 365 days (12 months plus the current one).
        self.sql(
            "INSERT INTO conversations_conversation (created_at, updated_at, channel, external_id, status, subject, "
            "imported, content_hash, csat_comment, metadata, closed_at) "
            "SELECT t, t, 'crisp', 'bench-s-' || g, 'closed', '', true, '', '', '{}'::jsonb, t "
            "FROM (SELECT g, %s::timestamptz - random() * interval '365 days' AS t FROM generate_series(1, %s) g) s",
            [now, n_convs],
        )
        conv_ids = np.array(
            [pk for (pk,) in self.sql("SELECT id FROM conversations_conversation WHERE external_id LIKE 'bench-s-%%'")]
        )
        # 1-4 labels per conversation (mean 2.5), label popularity Zipf-like (p ~ 1/rank^1.1), no duplicate pair.
        p = 1.0 / ranks**1.1
        p /= p.sum()
        pairs = np.empty(0, dtype=np.int64)
        factor = 1.08
        while len(pairs) < rows_target:
            per_conv = rng.integers(1, 5, size=len(conv_ids))
            conv_rep = np.repeat(np.arange(len(conv_ids)), per_conv)
            lab = rng.choice(n_labels, size=len(conv_rep), p=p)
            pairs = np.unique(np.concatenate([pairs, conv_rep.astype(np.int64) * 4096 + lab]))
            factor += 0.1
        pairs = rng.permutation(pairs)[:rows_target]
        conv_col, lab_col = conv_ids[pairs // 4096], ids[pairs % 4096]
        created = now.isoformat()
        connection.ensure_connection()
        with (
            connection.connection.cursor() as raw,
            raw.copy("COPY labels_conversationlabel (conversation_id, label_id, created_at) FROM STDIN") as copy,
        ):
            for c, lab in zip(conv_col.tolist(), lab_col.tolist(), strict=True):
                copy.write_row((c, lab, created))
        self.sql("ANALYZE labels_conversationlabel")
        self.sql("ANALYZE conversations_conversation")
        self.sql("ANALYZE labels_label")
        out["load_s"] = time.perf_counter() - t0
        out["rows"] = self.sql("SELECT count(*) FROM labels_conversationlabel")[0][0]
        out["conversations"] = self.sql("SELECT count(*) FROM conversations_conversation")[0][0]
        _log(f"stats: loaded in {out['load_s']:.1f} s; rebuilding the rollup…")
        t0 = time.perf_counter()
        out["rollup_rows"] = label_rollup_rebuild()
        out["rollup_rebuild_s"] = time.perf_counter() - t0
        self.sql("ANALYZE labels_labelmonthlycount")
        # The last full month: the busiest, and what "top of a past month" reads.
        first = timezone.localtime(now).date().replace(day=1)
        month = (first - dt.timedelta(days=1)).replace(day=1)
        out["month"] = month.isoformat()
        a = label_top_for_month(month)
        b = label_top_for_month_raw(month)
        out["same_answer"] = a == b
        # The raw GROUP BY again, with the month's bounds at local midnight (TIME_ZONE), as the rollup counts months.
        tz = settings.TIME_ZONE
        end = (month + dt.timedelta(days=32)).replace(day=1)
        local = self.sql(
            "SELECT COALESCE(CASE WHEN l.status = 'approved' THEN l.alias_of_id END, l.id) AS cid, COUNT(*) AS n "
            "FROM labels_conversationlabel cl JOIN labels_label l ON l.id = cl.label_id "
            "JOIN conversations_conversation c ON c.id = cl.conversation_id "
            "WHERE c.created_at >= (%s::timestamp AT TIME ZONE %s) AND c.created_at < (%s::timestamp AT TIME ZONE %s) "
            "GROUP BY cid ORDER BY n DESC, cid LIMIT 10",
            [month, tz, end, tz],
        )
        names = dict(Label.objects.filter(pk__in=[c for c, _ in local]).values_list("pk", "name"))
        out["same_answer_local_bounds"] = a == [(names[c], int(n)) for c, n in local]
        out["raw_differs_at"] = [(x, y) for x, y in zip(a, b, strict=False) if x != y][:3]
        out["top3"] = a[:3]
        for _ in range(args.warmup):
            label_top_for_month(month)
            label_top_for_month_raw(month)
        roll, raw = [], []
        for _ in range(args.stats_runs):
            t = time.perf_counter()
            label_top_for_month(month)
            roll.append(time.perf_counter() - t)
            t = time.perf_counter()
            label_top_for_month_raw(month)
            raw.append(time.perf_counter() - t)
        out.update(
            rollup_p50=pct(roll, 50),
            rollup_p95=pct(roll, 95),
            raw_p50=pct(raw, 50),
            raw_p95=pct(raw, 95),
            runs=len(roll),
        )
        out["speedup_p50"] = out["raw_p50"] / out["rollup_p50"]
        out["month_rows"] = self.sql(
            "SELECT count(*) FROM labels_conversationlabel cl JOIN conversations_conversation c "
            "ON c.id = cl.conversation_id WHERE c.created_at >= %s AND c.created_at < %s",
            [month, (month + dt.timedelta(days=32)).replace(day=1)],
        )[0][0]
        out["raw_plan"] = [
            r[0]
            for r in self.sql(
                "EXPLAIN SELECT COALESCE(CASE WHEN l.status = 'approved' THEN l.alias_of_id END, l.id) AS cid, "
                "COUNT(*) AS n FROM labels_conversationlabel cl JOIN labels_label l ON l.id = cl.label_id "
                "JOIN conversations_conversation c ON c.id = cl.conversation_id "
                "WHERE c.created_at >= %s AND c.created_at < %s GROUP BY cid ORDER BY n DESC, cid LIMIT 10",
                [month, (month + dt.timedelta(days=32)).replace(day=1)],
            )
        ]
        _log(
            f"stats: rollup p50 {_ms(out['rollup_p50'])}, raw p50 {_ms(out['raw_p50'])}, "
            f"speed-up {out['speedup_p50']:.0f}x, same answer {out['same_answer']}"
        )

    # ----------------------------------------------------------------- 4. label resolution

    def phase_resolve(self) -> None:
        import numpy as np
        import psycopg
        from django.conf import settings
        from django.db import connection
        from pgvector.psycopg import register_vector

        from apps.ai.providers import embeddings_model_name, get_embeddings
        from apps.labels.models import Label
        from apps.labels.services import label_resolve, labels_index_pending, thresholds_for

        args = self.args
        dim = settings.EMBEDDING_DIM
        model = embeddings_model_name()
        n_labels, n_queries = args.resolve_labels, args.resolve_queries
        out: dict[str, Any] = {"labels": n_labels, "queries": n_queries, "dim": dim, "model": model}
        self.results["resolve"] = out
        rng = np.random.default_rng(SEED + 2)
        indexdef = self.sql("SELECT pg_get_indexdef('label_embedding_hnsw'::regclass)")[0][0]
        out["index"] = indexdef
        out["maintenance_work_mem"] = self.sql("SHOW maintenance_work_mem")[0][0]
        out["max_parallel_maintenance_workers"] = self.sql("SHOW max_parallel_maintenance_workers")[0][0]
        out["shared_buffers"] = self.sql("SHOW shared_buffers")[0][0]
        _log(f"resolve: inserting {n_labels:,} labels with random {dim}-d unit vectors…")
        self.sql("DROP INDEX label_embedding_hnsw")
        t0 = time.perf_counter()
        # Gaussian components, L2-normalised: directions uniform on the sphere.
        self.sql(
            "INSERT INTO labels_label (created_at, updated_at, name, embedding, embedding_model, status, indexed) "
            "SELECT now(), now(), 'vecteur ' || lpad(g::text, 7, '0'), "
            "l2_normalize(ARRAY(SELECT random_normal() FROM generate_series(1, %s) WHERE g > 0)::vector), %s, 'approved', "
            "true "
            "FROM generate_series(1, %s) g",
            [dim, model, n_labels],
        )
        out["insert_s"] = time.perf_counter() - t0
        _log(f"resolve: inserted in {out['insert_s']:.1f} s; building the HNSW index…")
        t0 = time.perf_counter()
        with connection.cursor() as cur:
            if args.index_mem:  # this session only, as one would for a bulk build (the server default is 64MB)
                cur.execute("SELECT set_config('maintenance_work_mem', %s, false)", [args.index_mem])
            out["index_build_maintenance_work_mem"] = self.sql("SHOW maintenance_work_mem")[0][0]
            cur.execute(indexdef)
            cur.execute("RESET maintenance_work_mem")
        out["index_build_s"] = time.perf_counter() - t0
        self.sql("ANALYZE labels_label")
        out["labels_with_embedding"] = self.sql(
            "SELECT count(*) FROM labels_label WHERE embedding IS NOT NULL AND embedding_model = %s", [model]
        )[0][0]
        _log(f"resolve: index built in {out['index_build_s']:.1f} s")

        # Query vectors: a third near an existing label (reuse), a third at alias distance (new proposed alias),
        # a third random (new label), as a worker meets them. Names are new, so every call reaches pgvector.
        reuse, alias = thresholds_for(model)
        out["thresholds"] = {"reuse": reuse, "alias": alias}
        out["built_cosines"] = {"reuse": round((1 + reuse) / 2 + 0.02, 3), "alias": round((reuse + alias) / 2, 3)}
        sample = self.sql(
            "SELECT embedding FROM labels_label WHERE name LIKE 'vecteur %%' ORDER BY random() LIMIT %s",
            [n_queries + args.warmup * 5],
        )
        base = np.array(
            [np.asarray(json.loads(r[0]) if isinstance(r[0], str) else r[0], dtype=np.float64) for r in sample]
        )

        def around(v: np.ndarray, cos: float) -> np.ndarray:
            u = rng.standard_normal(dim)
            u -= u.dot(v) * v
            u /= np.linalg.norm(u)
            w = cos * v + math.sqrt(1 - cos * cos) * u
            return w / np.linalg.norm(w)

        total = n_queries + args.warmup * 5
        kinds = ["reuse", "alias", "new"] * (total // 3 + 1)
        vectors: dict[str, list[float]] = {}
        expected: dict[str, str] = {}
        for i in range(total):
            kind = kinds[i]
            if kind == "reuse":
                v = around(base[i], (1 + reuse) / 2 + 0.02)
            elif kind == "alias":
                v = around(base[i], (reuse + alias) / 2)
            else:
                v = rng.standard_normal(dim)
                v /= np.linalg.norm(v)
            name = f"nouveau {kind} {i:05d}"
            vectors[name] = v.astype(np.float32).tolist()
            expected[name] = kind

        class PrecomputedEmbedder:
            """Answers instantly with the precomputed vector: the timing is our resolution, not a model."""

            def embed_query(self, text: str) -> list[float]:
                return vectors[text]

            def embed_documents(self, texts: list[str]) -> list[list[float]]:
                return [vectors[t] for t in texts]

        # Raw baseline, before any resolution (the table holds the bulk-loaded labels only): the bare
        # nearest-neighbour query through psycopg, same vectors, same server.
        names = list(vectors)
        warm, timed = names[: args.warmup * 5], names[args.warmup * 5 :]
        db = settings.DATABASES["default"]
        conninfo = psycopg.conninfo.make_conninfo(
            host=str(db["HOST"]),
            port=str(db["PORT"]),
            user=str(db["USER"]),
            dbname=str(db["NAME"]),
            password=str(db.get("PASSWORD") or "") or None,
        )
        raw_lat: list[float] = []
        with psycopg.connect(conninfo, autocommit=True) as conn:
            register_vector(conn)
            qv = [np.asarray(vectors[n], dtype=np.float32) for n in timed]
            for v in qv[: args.warmup * 5]:
                conn.execute(
                    "SELECT id FROM labels_label WHERE indexed ORDER BY embedding <=> %s LIMIT 1", [v]
                ).fetchone()
            for v in qv:
                t = time.perf_counter()
                conn.execute(
                    "SELECT id FROM labels_label WHERE indexed ORDER BY embedding <=> %s LIMIT 1", [v]
                ).fetchone()
                raw_lat.append(time.perf_counter() - t)
            # Recall@1 of the index for the vectors built near a label (the others have no near neighbour, so a
            # miss cannot change their outcome): the HNSW answer against the exact one (sequential scan).
            near = [np.asarray(vectors[n], dtype=np.float32) for n in timed if expected[n] != "new"]
            sample_n = min(len(near), args.recall_queries)
            exact_ids = []
            for v in near[:sample_n]:
                with conn.transaction():
                    conn.execute("SET LOCAL enable_indexscan = off")
                    # Never prepared: psycopg prepares a query run 5 times, and the same text would reuse the
                    # index plan whatever enable_indexscan says.
                    exact_ids.append(
                        conn.execute(
                            "SELECT id FROM labels_label WHERE indexed ORDER BY embedding <=> %s LIMIT 1",
                            [v],
                            prepare=False,
                        ).fetchone()
                    )
            # Recall and latency of the bare query for a few search breadths (LABELS_HNSW_EF_SEARCH).
            sweep = []
            for ef in (40, 80, 100, 200):
                conn.execute(f"SET hnsw.ef_search = {ef}")
                found, ef_lat = 0, []
                for v, exact in zip(near[:sample_n], exact_ids, strict=True):
                    t = time.perf_counter()
                    approx = conn.execute(
                        "SELECT id FROM labels_label WHERE indexed ORDER BY embedding <=> %s LIMIT 1", [v]
                    ).fetchone()
                    ef_lat.append(time.perf_counter() - t)
                    found += approx == exact
                sweep.append({"ef_search": ef, "recall": found / sample_n if sample_n else None,
                              "p50": pct(ef_lat, 50), "p99": pct(ef_lat, 99)})  # fmt: skip
            conn.execute("RESET hnsw.ef_search")
            out["ef_sweep"] = sweep
            hits = round(sweep[0]["recall"] * sample_n) if sample_n else 0
            out["recall_at_1"] = hits / sample_n if sample_n else None
            out["recall_queries"] = sample_n
            row = conn.execute("SHOW hnsw.ef_search").fetchone()
            out["ef_search"] = row[0] if row else None
        out.update(raw_p50=pct(raw_lat, 50), raw_p95=pct(raw_lat, 95), raw_p99=pct(raw_lat, 99))

        fake = PrecomputedEmbedder()
        for name in warm:
            label_resolve(name, embedder=fake, model_name=model)
        lat: list[float] = []
        by_kind: dict[str, list[float]] = {"reuse": [], "alias": [], "new": []}
        outcome: Counter[str] = Counter()
        mismatched = 0
        before = Label.objects.count()
        for name in timed:
            t = time.perf_counter()
            label = label_resolve(name, embedder=fake, model_name=model)
            lat.append(time.perf_counter() - t)
            got = (
                "new"
                if label.name == name and label.alias_of_id is None
                else ("alias" if label.name == name else "reuse")
            )
            outcome[got] += 1
            by_kind[got].append(lat[-1])
            mismatched += got != expected[name]
        out["labels_created"] = Label.objects.count() - before
        # The HNSW insert a creation no longer pays: labels_index_pending moves the new labels into the index (in
        # production a task does it LABELS_INDEX_DELAY s after their creation, off the resolution path).
        t = time.perf_counter()
        out["labels_indexed_after"] = labels_index_pending(min_age_s=0)
        out["index_pending_s"] = time.perf_counter() - t
        out.update(resolve_p50=pct(lat, 50), resolve_p95=pct(lat, 95), resolve_p99=pct(lat, 99), resolve_max=max(lat))
        out["outcomes"] = dict(outcome)
        out["by_outcome"] = {k: {"n": len(v), "p50": pct(v, 50), "p99": pct(v, 99)} for k, v in by_kind.items() if v}
        out["outcomes_not_as_built"] = mismatched
        # The ORM query label_resolve runs, as PostgreSQL plans it (must use the HNSW index).
        from pgvector.django import CosineDistance

        qs = (
            Label.objects.select_related("alias_of")
            .filter(embedding_model=model, indexed=True)
            .annotate(distance=CosineDistance("embedding", vectors[timed[0]]))
            .order_by("distance")[:1]
        )
        out["resolve_plan"] = qs.explain().splitlines()

        # The real default embedder, for one short label (first call loads the model).
        embedder = get_embeddings()
        t = time.perf_counter()
        embedder.embed_query("paiement refusé")
        out["embed_first_s"] = time.perf_counter() - t
        words = ["paiement", "livraison en retard", "mot de passe", "facture", "remboursement", "carte sim",
                 "login", "parcel tracking", "box internet", "résiliation"]  # fmt: skip
        emb: list[float] = []
        for i in range(args.embed_runs):
            t = time.perf_counter()
            embedder.embed_query(words[i % len(words)])
            emb.append(time.perf_counter() - t)
        out.update(embed_p50=pct(emb, 50), embed_p99=pct(emb, 99), embed_runs=len(emb))
        _log(
            f"resolve: p50 {_ms(out['resolve_p50'])}, p99 {_ms(out['resolve_p99'])}; raw p50 {_ms(out['raw_p50'])}, "
            f"p99 {_ms(out['raw_p99'])}; embedder p50 {_ms(out['embed_p50'])}; outcomes {dict(outcome)}"
        )

    # ----------------------------------------------------------------- 5. webhook

    def phase_webhook(self) -> None:
        import httpx

        args = self.args
        n, conc = args.webhook_requests, args.webhook_concurrency
        out: dict[str, Any] = {"requests": n, "concurrency": conc}
        self.results["webhook"] = out
        key = secrets.token_urlsafe(24)
        (port,) = _pick_ports(1, self.tracker.ports)
        env = self.worker_env(CRISP_WEBHOOK_KEY=key)
        cmd = [
            str(Path(sys.executable).parent / "daphne"),
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "supportdesk.asgi:application",
        ]
        d = Child("daphne", cmd, env, self.tracker, self.logs / "daphne.log")
        self.children.append(d)
        d.start()
        base = f"http://127.0.0.1:{port}"
        d.wait_http_ok(f"{base}/healthz", args.timeout)
        rng = random.Random(SEED + 3)
        t_base = int(time.time()) - 3600

        def payload(i: int) -> bytes:
            msgs = conversation(rng)
            return json.dumps(
                {
                    "conversation_id": f"session_bench-wh-{i:06d}",
                    "website_id": "bench-site",
                    "messages": [{"role": r, "text": t, "timestamp": t_base + 30 * k} for k, (r, t) in enumerate(msgs)],
                }
            ).encode()

        warm = [payload(10**6 + i) for i in range(args.warmup * 10)]
        bodies = [payload(i) for i in range(n)]
        out["mean_body_bytes"] = statistics.mean(len(b) for b in bodies)
        hook = f"{base}/webhooks/crisp/conversation.closed?key={key}"

        async def load(make: Any, count: int) -> tuple[float, list[float], Counter[int]]:
            lat: list[float] = []
            codes: Counter[int] = Counter()
            it = iter(range(count))
            limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
            async with httpx.AsyncClient(limits=limits, timeout=30) as client:

                async def one() -> None:
                    for i in it:
                        t = time.perf_counter()
                        try:
                            r = await make(client, i)
                            codes[r.status_code] += 1
                        except httpx.HTTPError as exc:
                            codes[-1] += 1
                            _log(f"webhook: {type(exc).__name__}")
                        lat.append(time.perf_counter() - t)

                t0 = time.perf_counter()
                await asyncio.gather(*(one() for _ in range(conc)))
                return time.perf_counter() - t0, lat, codes

        def healthz(client: httpx.AsyncClient, i: int) -> Any:
            return client.get(f"{base}/healthz")

        def post(bodies_: list[bytes]) -> Any:
            def make(client: httpx.AsyncClient, i: int) -> Any:
                return client.post(hook, content=bodies_[i], headers={"Content-Type": "application/json"})

            return make

        _log(f"webhook: daphne on :{port}, warming up…")
        asyncio.run(load(healthz, args.warmup * 20))
        asyncio.run(load(post(warm), len(warm)))
        for name, make in (("healthz", healthz), ("queued", post(bodies)), ("duplicate", post(bodies))):
            _log(f"webhook: {n:,} requests: {name}…")
            elapsed, lat, codes = asyncio.run(load(make, n))
            out[name] = {
                "per_s": n / elapsed,
                "p50": pct(lat, 50),
                "p99": pct(lat, 99),
                "codes": {str(k): v for k, v in sorted(codes.items())},
                "elapsed_s": elapsed,
            }
        d.stop()
        out["expected_codes_ok"] = (
            out["healthz"]["codes"] == {"200": n}
            and out["queued"]["codes"] == {"202": n}
            and out["duplicate"]["codes"] == {"200": n}
        )
        out["tasks_queued_in_redis"] = self.redis.llen(CONVERSATIONS_QUEUE)
        self.redis.delete(CONVERSATIONS_QUEUE)  # no worker in this phase: drop the tasks it queued
        _log(
            f"webhook: healthz {out['healthz']['per_s']:.0f}/s, queued {out['queued']['per_s']:.0f}/s, "
            f"duplicate {out['duplicate']['per_s']:.0f}/s, codes ok {out['expected_codes_ok']}"
        )


def _count_id() -> Any:
    from django.db.models import Count

    return Count("id")


# --------------------------------------------------------------------------- options


def parse_args(argv: list[str]) -> argparse.Namespace:
    doc = (__doc__ or "").splitlines()[0]
    parser = argparse.ArgumentParser(prog="python -m bench labels", description=doc)
    parser.add_argument("--quick", action="store_true", help="scaled down (about 3 min): the defaults in brackets")
    parser.add_argument("--only", default=",".join(PHASES), help=f"comma-separated phases among {','.join(PHASES)}")
    parser.add_argument("--jobs", type=int, help="conversations through intake + worker, and pings [10000; 1000]")
    parser.add_argument("--concurrency", type=int, default=5, help="worker -c for the throughput phase [5]")
    parser.add_argument("--rl-limit", type=int, help="LABELS_RATE_LIMIT of the rate-limit phase [30; 10]")
    parser.add_argument("--rl-jobs", type=int, help="jobs of the rate-limit phase [90; 25]")
    parser.add_argument("--rl-concurrency", type=int, default=2, help="-c of each of the two workers [2]")
    parser.add_argument("--rl-observe", type=float, help="longest observation of the rate-limit phase in s [150; 75]")
    parser.add_argument("--stats-rows", type=int, help="conversation labels loaded [1000000; 100000]")
    parser.add_argument("--stats-labels", type=int, default=2000, help="distinct labels [2000]")
    parser.add_argument("--stats-runs", type=int, default=20, help="timed runs of each statistics query [20]")
    parser.add_argument("--resolve-labels", type=int, help="labels with embeddings [100000; 20000]")
    parser.add_argument("--resolve-queries", type=int, default=500, help="new names resolved [500]")
    parser.add_argument(
        "--index-mem", default="1GB", help="maintenance_work_mem of the HNSW build, '' = server's [1GB]"
    )
    parser.add_argument("--recall-queries", type=int, default=200, help="queries checked against an exact scan [200]")
    parser.add_argument("--embed-runs", type=int, default=50, help="calls to the real embedder [50]")
    parser.add_argument("--webhook-requests", type=int, help="requests per webhook series [2000; 500]")
    parser.add_argument("--webhook-concurrency", type=int, default=12, help="concurrent webhook clients [12]")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up runs before timing [2]")
    parser.add_argument("--timeout", type=float, default=180.0, help="bound of each start-up wait in s [180]")
    parser.add_argument("--drain-timeout", type=float, help="longest drain of the throughput phase in s [180; 45]")
    parser.add_argument("--ref-jobs", type=int, help="jobs of the in-process reference (no Celery) [500; 100]")
    parser.add_argument("--keep-logs", type=Path, default=None, help="copy the processes' logs there before cleanup")
    parser.add_argument("--json", type=Path, default=None, help="results file (default bench/results/labels-DATE.json)")
    args = parser.parse_args(argv)
    full = {"jobs": 10_000, "rl_limit": 30, "rl_jobs": 90, "stats_rows": 1_000_000, "resolve_labels": 100_000,
            "webhook_requests": 2000, "drain_timeout": 180.0, "rl_observe": 150.0, "ref_jobs": 500}  # fmt: skip
    quick = {"jobs": 1000, "rl_limit": 10, "rl_jobs": 25, "stats_rows": 100_000, "resolve_labels": 20_000,
             "webhook_requests": 500, "drain_timeout": 45.0, "rl_observe": 75.0, "ref_jobs": 100}  # fmt: skip
    for k, v in (quick if args.quick else full).items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    args.phases = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(args.phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases {sorted(unknown)}; choose among {', '.join(PHASES)}")
    if min(args.jobs, args.rl_limit, args.rl_jobs, args.stats_rows, args.resolve_labels, args.webhook_requests) < 1:
        parser.error("sizes must be positive")
    if args.resolve_queries < 3 or args.resolve_queries * 2 > args.resolve_labels:
        parser.error("--resolve-queries must be at least 3 and at most half of --resolve-labels")
    return args


def main(argv: list[str] | None = None) -> int:
    return bench_main("labels", argv, parse_args, Bench, PHASES, report, _log)


# --------------------------------------------------------------------------- report


def report(r: dict[str, Any], args: argparse.Namespace, argv: list[str]) -> None:
    machine = _machine()
    out: list[str] = ["### Labeling pipeline benchmark (`bench/labels.py`)", ""]
    out.append(f"Command: `{command_line('labels', argv)}`")
    out.append("")
    out.append(
        f"Date: {machine['date']}. Machine: {machine['nproc']} CPUs (`nproc`), {machine['cpu']}, {machine['os']}, "
        f"Python {machine['python']}. Whole run: {_s(r.get('total_s'))}; processes left over: "
        f"{r.get('leftover_processes', 'n/a')}. `free -g`:"
    )
    out.append("")
    out.append("```")
    out.append(free_g())
    out.append("```")
    out.append("")
    out.append(phases_line(r, PHASES))
    s = r.get("settings", {})
    out.append("")
    out.append(
        f"Settings: LLM_PROVIDER={s.get('LLM_PROVIDER')}, EMBEDDINGS_PROVIDER={s.get('EMBEDDINGS_PROVIDER')}, "
        f"EMBEDDING_DIM={s.get('EMBEDDING_DIM')}, LABELS_BATCH_SIZE={s.get('LABELS_BATCH_SIZE')}, "
        f"LABELS_MAX_TOKENS={s.get('LABELS_MAX_TOKENS')}."
    )

    t = r.get("throughput")
    if t and "jobs_per_s" in t:
        drained = f"{_n(t['finished'])} of {_n(t['jobs'])}" + (" (drain bound reached)" if t["drain_bounded"] else "")
        out += [
            "",
            f"#### 1. Queue throughput ({_n(t['jobs'])} conversations queued, worker `-c {t['concurrency']}`)",
            "",
        ]
        out.append("| Measure | Labeling (`conversation_label`) | Raw baseline: `ping` no-op task | Ratio |")
        out.append("|---|---:|---:|---:|")
        out.append(
            f"| Drain rate, worker ready → last `finished_at` / `date_done` | {_rate(t['jobs_per_s'], 'jobs/s')} "
            f"({drained} in {_s(t['drain_s'])}) | {_rate(t['ping_per_s'], 'tasks/s')} ({_n(t['baseline_tasks'])} in "
            f"{_s(t['ping_drain_s'])}) | {_x(t['ping_per_s'], t['jobs_per_s'])} slower |"
        )
        out.append(
            f"| Steady rate, first → last finished (leaves out the worker warm-up: {_s(t['warmup_s'])} to the first "
            f"finished job) | {_rate(t['steady_jobs_per_s'], 'jobs/s')} | {_rate(t['ping_steady_per_s'], 'tasks/s')} | "
            f"{_x(t['ping_steady_per_s'], t['steady_jobs_per_s'])} slower |"
        )
        out.append(
            f"| Enqueue rate (this process, one at a time) | {_rate(t['intake_per_s'], 'conv/s')} "
            f"(`imported_conversation_intake`: p50 {_ms(t['intake_p50'])}, p99 {_ms(t['intake_p99'])}) | "
            f"{_rate(t['ping_enqueue_per_s'], 'tasks/s')} (`apply_async`) | "
            f"{_x(t['ping_enqueue_per_s'], t['intake_per_s'])} slower |"
        )
        out.append(
            f"| Job latency `created_at` → `finished_at` (everything queued before the worker started) | "
            f"p50 {_s(t['latency_p50'])}, p99 {_s(t['latency_p99'])} | — | — |"
        )
        out.append(
            f"| Job service time `started_at` → `finished_at` (a batch of up to 5 shares one start) | "
            f"p50 {_ms(t['service_p50'])}, p99 {_ms(t['service_p99'])} | — | — |"
        )
        if "inprocess_jobs_per_s" in t:
            out.append(
                f"| Same code in one plain process (`labeling_job_run` in a loop, no Celery; {_n(t['inprocess_jobs'])} "
                f"jobs) | {_rate(t['inprocess_jobs_per_s'], 'jobs/s')} | — | "
                f"{_x(t['inprocess_jobs_per_s'], t['steady_jobs_per_s'])} the worker's steady rate |"
            )
        out.append("")
        out.append(
            f"Job statuses at the end of the drain: {t['statuses']}; lost jobs (queue empty, job never finished): "
            f"{t['lost_jobs']}; jobs claimed twice or more (`attempts` ≥ 2): {_n(t['jobs_attempted_twice_or_more'])}. "
            f"Task results in the worker log: {t['task_results']}. Database sessions during the drain (share of "
            f"samples): {t['db_backend_states']}. Messages per conversation: {t['messages_per_conversation']:.1f}; "
            f"labels in the table: {t['labels_created']}; conversation labels stored: {_n(t['conversation_labels'])}."
        )

    rl = r.get("ratelimit")
    if rl and "max_permits_per_60s" in rl:
        ok = rl["max_permits_per_60s"] <= rl["limit"]
        out += [
            "",
            f"#### 2. Global rate limit (LABELS_RATE_LIMIT={rl['limit']}, {rl['jobs']} jobs, 2 workers "
            f"`-c {rl['concurrency_each']}`)",
            "",
        ]
        out.append("| Measure | Value | Bound |")
        out.append("|---|---:|---:|")
        out.append(
            f"| Permits granted by the limiter in any sliding 60 s window (its Redis set, sampled every 0.5 s) | "
            f"{rl['max_permits_per_60s']} | ≤ {rl['limit']} |"
        )
        out.append(
            f"| Jobs started (`started_at`) in any sliding 60 s window | {rl['max_started_per_60s']} | ≤ {rl['limit']} |"
        )
        out.append(
            f"| Jobs finished (`finished_at`) in any sliding 60 s window | {rl['max_finished_per_60s']} | ≤ {rl['limit']} |"
        )
        out.append(
            f"| Permits / jobs finished per minute after enqueue | {rl['permits_per_minute']} / {rl['finished_per_minute']} | — |"
        )
        out.append(
            f"| Jobs finished within the observation ({_s(rl['observe_s'])} max) | {rl['finished']} of {rl['jobs']} "
            f"(last at {_s(rl['elapsed_s'])}) | ideal: all by {_s(rl['ideal_s'])} + processing |"
        )
        out.append(f"| Permits used | {rl['permits']} for {rl['finished']} jobs | 1 per job |")
        out.append(f'| Jobs stored per worker ("labels: stored" lines) | {rl["stored_per_worker"]} | — |')
        out.append("")
        out.append(
            f"Limiter held: **{'yes' if ok else 'NO'}**. Statuses: {rl['statuses']}. Task results per worker: "
            f"{rl['task_results_per_worker']}."
        )

    st = r.get("stats")
    if st and "speedup_p50" in st:
        out += ["", f"#### 3. Statistics at {_n(st['rows'])} conversation labels", ""]
        out.append("| Measure | `label_top_for_month` (rollup) | Raw baseline: `label_top_for_month_raw` | Speed-up |")
        out.append("|---|---:|---:|---:|")
        out.append(
            f"| Top 10 of {st['month'][:7]}, p50 of {st['runs']} | {_ms(st['rollup_p50'])} | {_ms(st['raw_p50'])} | "
            f"{_x(st['raw_p50'], st['rollup_p50'])} |"
        )
        out.append(
            f"| Top 10 of {st['month'][:7]}, p95 of {st['runs']} | {_ms(st['rollup_p95'])} | {_ms(st['raw_p95'])} | "
            f"{_x(st['raw_p95'], st['rollup_p95'])} |"
        )
        out.append("")
        out.append(
            f"Same answer: **{st['same_answer']}** (top 3: {st['top3']}; with the month bounds at local midnight, "
            f"the raw GROUP BY gives the same answer: {st['same_answer_local_bounds']}). Data: {_n(st['conversations'])} conversations "
            f"over 12 months, {st['labels']:,} labels (Zipf), {st['approved_aliases']} approved aliases, "
            f"{st['proposed_aliases']} pending proposals; {_n(st['month_rows'])} rows in the month. Bulk load "
            f"{_s(st['load_s'])}; `label_rollup_rebuild()` {_s(st['rollup_rebuild_s'])} ({_n(st['rollup_rows'])} rollup rows)."
        )

    rs = r.get("resolve")
    if rs and "resolve_p99" in rs:
        out += ["", f"#### 4. Label resolution at {_n(rs['labels_with_embedding'])} labels ({rs['dim']}-d)", ""]
        out.append(
            "| Measure | `label_resolve` (fake embedder) | Raw baseline: bare `WHERE indexed ORDER BY embedding <=> v LIMIT 1` | Ratio |"
        )
        out.append("|---|---:|---:|---:|")
        for q in ("50", "95", "99"):
            out.append(
                f"| p{q} of {rs['queries']} new names | {_ms(rs[f'resolve_p{q}'])} | {_ms(rs[f'raw_p{q}'])} | "
                f"{_x(rs[f'resolve_p{q}'], rs[f'raw_p{q}'])} |"
            )
        for kind, what in (
            ("reuse", "existing label reused (no insert)"),
            ("alias", "new proposed alias (insert)"),
            ("new", "new label (insert)"),
        ):
            k = rs["by_outcome"].get(kind)
            if k:
                out.append(f"| {what}: {k['n']} names | p50 {_ms(k['p50'])}, p99 {_ms(k['p99'])} | — | — |")
        out.append("")
        out.append(
            f"Thresholds of `{rs['model']}`: reuse {rs['thresholds']['reuse']}, alias {rs['thresholds']['alias']}; "
            f"vectors built at cosine {rs['built_cosines']['reuse']} (reuse) and {rs['built_cosines']['alias']} "
            f"(alias) from a random existing label, or random (new). "
            f"Outcomes: {rs['outcomes']} (not the kind the vector was built for: {rs['outcomes_not_as_built']}). "
            f"Recall@1 of the index (hnsw.ef_search {rs.get('ef_search')}) for the vectors built near an existing "
            f"label, against an exact scan: {rs['recall_at_1']:.1%} of {rs['recall_queries']}. HNSW build "
            f"(`{rs['index'].split(' USING ')[1]}`) on {_n(rs['labels'])} rows: {_s(rs['index_build_s'])} "
            f"(maintenance_work_mem {rs['index_build_maintenance_work_mem']} for the build, server default "
            f"{rs['maintenance_work_mem']}; max_parallel_maintenance_workers {rs['max_parallel_maintenance_workers']}); "
            f"row insert {_s(rs['insert_s'])}. Server `shared_buffers` {rs.get('shared_buffers')}. The "
            f"{_n(rs['labels_indexed_after'])} labels created were then moved into the HNSW index by "
            f"`labels_index_pending` in {_s(rs['index_pending_s'])} "
            f"({_ms(rs['index_pending_s'] / max(1, rs['labels_indexed_after']))} a label): the index insert that "
            f"creation no longer pays. Real embedder "
            f"`{rs['model']}` for one short label: p50 {_ms(rs['embed_p50'])}, p99 {_ms(rs['embed_p99'])} "
            f"({rs['embed_runs']} calls; first call of the phase {_s(rs['embed_first_s'])}, model load included "
            f"unless an earlier phase loaded it)."
        )
        if rs.get("ef_sweep"):
            out += [
                "",
                "| `hnsw.ef_search` | recall@1 (near vectors) | bare query p50 | p99 |",
                "|---:|---:|---:|---:|",
            ]
            out += [
                f"| {e['ef_search']} | {e['recall']:.1%} | {_ms(e['p50'])} | {_ms(e['p99'])} |" for e in rs["ef_sweep"]
            ]

    wh = r.get("webhook")
    if wh and "duplicate" in wh:
        h = wh["healthz"]
        out += [
            "",
            f"#### 5. Webhook ({_n(wh['requests'])} requests per series, {wh['concurrency']} concurrent clients)",
            "",
        ]
        out.append("| Series | Requests/s | p50 | p99 | Status codes | Ratio to `/healthz` (req/s) |")
        out.append("|---|---:|---:|---:|---|---:|")
        for name, label in (
            ("healthz", "Raw baseline: `GET /healthz`"),
            ("queued", "`POST /webhooks/crisp/conversation.closed`, new (202 queued)"),
            ("duplicate", "same payloads again (200 duplicate)"),
        ):
            x = wh[name]
            ratio = "—" if name == "healthz" else f"{h['per_s'] / x['per_s']:,.1f}x slower"
            out.append(f"| {label} | {x['per_s']:,.1f} | {_ms(x['p50'])} | {_ms(x['p99'])} | {x['codes']} | {ratio} |")
        out.append("")
        out.append(
            f"All status codes as expected: **{wh['expected_codes_ok']}**; mean body {wh['mean_body_bytes']:.0f} "
            f"bytes; {wh['tasks_queued_in_redis']:,} tasks were waiting in the queue (flushed, no worker ran)."
        )
    text = "\n".join(out)
    print(text, flush=True)
    path = args.json or BASE_DIR / "bench" / "results" / f"labels-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    payload = {
        "command": command_line("labels", argv),
        "machine": machine,
        "free_g": free_g(),
        "results": r,
        "markdown": text,
    }
    write_json(path, payload, _log)


if __name__ == "__main__":
    sys.exit(main())
