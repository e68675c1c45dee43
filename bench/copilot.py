"""Copilot (SPEC §7, issue 6): our added latency to the first suggestion token on the agent's socket.

Run: `cd /work/main && .venv/bin/python -m bench copilot` (about 3 min on 2 idle cores; `-h` for the sizes).

A fresh temporary data dir (like `bench livechat`, whose set-up this reuses): migrate, ingest the demo knowledge
base (docs/knowledge/), then start the OpenAI-compatible stub (tests/stubs/openai_stub.py, its own process) that
waits `--ttft` seconds before its first token and `--token-delay` between tokens, one daphne and the Celery worker
of the `copilot` queue (the commands `manage.py runstack` uses), both with `LLM_PROVIDER=openai` on the stub.
C customers (widget sockets) are escalated, and C agents (console sockets) each open one of the conversations.

Each round, the C customers send a question the knowledge base covers at the same time (C concurrent
suggestions). Measured per message:
- ours: from the customer's widget frame to the first reply token on the agent's console socket
  (the `#copilot-reply-0` fragment);
- the stub's time to first token for that suggestion's request, measured inside the stub (from the request
  received to the first token written, same monotonic clock);
- **added latency = ours − the stub's time to first token**: everything SupportDesk does (store the message,
  Celery hop, context and retrieval, the request, parsing, Channels fan-out, rendering).
Raw baseline in the same run: the same C streaming requests sent straight to the stub (httpx, concurrently),
time to the first content token on the client.

`--provider local`: the offline provider instead of the stub (SPEC §7's "< 150 ms with the local provider"). There is
no model time to subtract, so the added latency is the whole time to the first reply token on the agent's socket;
the raw baseline is the same suggestion computed in the benchmark's own process (its passages, then the stream to
its first reply piece) for the round's questions, one after the other.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import random
import re
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import psutil

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

from bench._harness import (  # noqa: E402
    Child,
    bench_main,
    command_line,
    env_assignments,
    free_g,
    pct,
    phases_line,
    write_json,
)
from bench.livechat import Bench as LiveChatBench  # noqa: E402
from bench.livechat import Sock, _code_state, _is, _ms, _stats  # noqa: E402
from bench.startup import BenchError, _machine, _pick_ports, server_processes  # noqa: E402

PHASES = ("latency",)
FIRST_TOKEN = "copilot-reply-0"
MARK_RE = re.compile(r"bench-q\d+-[0-9a-f]{6}")
# Questions the demo knowledge base answers (FR and EN); a marker is appended to each to match the stub's request.
QUESTIONS = (
    "Comment activer ma nouvelle carte SIM ?",
    "Je n'ai plus de réseau 4G depuis ce matin, que faire ?",
    "How do I return an item I ordered?",
    "Quels sont les délais de livraison ?",
    "Comment payer ma facture par prélèvement ?",
    "How can I reset my account password?",
    "Ma box internet clignote en rouge.",
    "Comment résilier mon forfait ?",
)


def _cpu(p: psutil.Process) -> float:
    """User + system CPU seconds of ``p`` and of its children that have exited (reaped)."""
    with contextlib.suppress(psutil.Error):
        t = p.cpu_times()
        return float(t.user + t.system + t.children_user + t.children_system)
    return 0.0


def _log(msg: str) -> None:
    print(f"bench.copilot: {msg}", file=sys.stderr, flush=True)


def _reply_json() -> str:
    """What the stub streams: a complete, valid suggestion in the order and shape the prompt asks for
    (apps/ai/prompts/copilot.*.txt: confidence first, then the replies)."""
    return json.dumps(
        {
            "confidence": 0.86,
            "replies": [
                {"text": "Bonjour, je regarde cela tout de suite pour vous. Pouvez-vous me confirmer votre numéro ?",
                 "sources": [1]},
                {"text": "Merci pour votre message : voici la marche à suivre, étape par étape.", "sources": [1]},
            ],
            "questions": ["Depuis quand le problème dure-t-il ?", "Avez-vous redémarré l'appareil ?"],
            "signals_detected": ["question"],
            "recommended_direction": "Guider le client pas à pas.",
            "priority": "medium",
            "next_best_actions": ["Envoyer le lien d'aide", "Vérifier la ligne"],
            "sentiment_trend": "stable",
        },
        ensure_ascii=False,
    )  # fmt: skip


def first_reply_piece(reply: str) -> int:
    """The index of the stub's streamed piece (it splits on whitespace, like tests/stubs/openai_stub.py) that carries
    the first character of the first reply's text: the first token a console can show."""
    pieces = re.findall(r"\S+\s*", reply)
    text = ""
    for i, piece in enumerate(pieces):
        text += piece
        if re.search(r'"replies":\s*\[\s*\{\s*"text":\s*"[^"]', text):
            return i
    raise BenchError("the stub's reply has no reply text")


class Bench(LiveChatBench):
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        super().__init__(args, tmp)
        self.stub: Child | None = None
        self.stub_url = ""
        self.reply_piece = 0

    def setup(self) -> None:
        self.results["code"] = _code_state()
        self.migrate_and_load_django()
        from django.conf import settings
        from django.core.management import call_command

        self.redis_url = settings.REDIS_URL
        t0 = time.monotonic()
        with contextlib.redirect_stdout(sys.stderr):
            call_command("ingest", str(BASE_DIR / "docs" / "knowledge"), verbosity=0)
        self.results["ingest_s"] = time.monotonic() - t0
        limits = {"WIDGET_RATE_LIMIT": "100000000", "WIDGET_SESSIONS_RATE_LIMIT": "100000000"}
        if self.args.provider == "local":
            self.env.update(LLM_PROVIDER="local", **limits)
        else:
            self.start_stub()
            llm = {
                "LLM_PROVIDER": "openai",
                "LLM_BASE_URL": self.stub_url,
                "LLM_API_KEY": "bench",
                "LLM_MAX_RETRIES": "1",
            }
            self.env.update(**llm, **limits)
        self.start_daphne()
        self.start_worker()

    def start_stub(self) -> None:
        (port,) = _pick_ports(1, self.tracker.ports)
        reply = self.tmp / "reply.json"
        reply.write_text(_reply_json())
        self.reply_piece = first_reply_piece(_reply_json())
        cmd = [sys.executable, "-m", "tests.stubs.openai_stub", "--port", str(port), "--reply-file", str(reply),
               "--first-token-delay", str(self.args.ttft), "--token-delay", str(self.args.token_delay)]  # fmt: skip
        stub = Child("stub", cmd, dict(self.env), self.tracker, self.logs / "stub.log")
        self.children.append(stub)
        stub.start()
        self.stub = stub
        self.stub_url = f"http://127.0.0.1:{port}/v1"
        stub.wait_http_ok(f"{self.stub_url}/models", self.args.timeout)

    def start_worker(self) -> None:
        """``--workers`` copilot workers, each the command `manage.py runstack` uses (a thread pool)."""
        celery = str(Path(sys.executable).parent / "celery")
        for i in range(self.args.workers):
            cmd = [celery, "-A", "supportdesk", "worker", "-Q", "copilot", "-P", "threads", "-c", str(self.args.threads),
                   "-l", "INFO", "-n", f"bench-copilot-{i}-{secrets.token_hex(3)}@%h", "--without-mingle",
                   "--without-gossip"]  # fmt: skip
            env = dict(self.env, **self.args.worker_env)
            worker = Child(f"worker{i}", cmd, env, self.tracker, self.logs / f"worker{i}.log")
            self.children.append(worker)
            worker.start()
            worker.wait_for(lambda line: "ready." in line, self.args.timeout, "the copilot worker's 'ready.'")

    async def stub_timings(self) -> list[dict[str, Any]]:
        import httpx

        async with httpx.AsyncClient(timeout=30) as client:
            r = await client.get(f"{self.stub_url.rsplit('/v1', 1)[0]}/_stub/timings")
            r.raise_for_status()
            return list(r.json()["streams"])

    async def raw_ttft(self, count: int) -> list[float]:
        """``count`` concurrent streaming requests straight to the stub: time to the first content token."""
        import httpx

        async def one(client: httpx.AsyncClient) -> float:
            body = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "raw baseline"}]}
            t0 = time.perf_counter()
            async with client.stream("POST", f"{self.stub_url}/chat/completions", json=body) as r:
                async for line in r.aiter_lines():
                    if line.startswith("data: ") and '"content": "' in line and '"content": ""' not in line:
                        return time.perf_counter() - t0
            raise BenchError("the stub's stream ended without a token")

        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=count + 4)) as client:
            return list(await asyncio.gather(*(one(client) for _ in range(count))))

    def raw_local(self, texts: list[str]) -> list[float]:
        """The local provider's suggestion for each of ``texts`` computed here, one after the other: seconds from
        the start (passages included) to its first reply piece."""
        from django.db import close_old_connections
        from django.test import override_settings

        from apps.ai import copilot as ai_copilot
        from apps.copilot.memory import ConversationBuffer
        from apps.copilot.types import ContextMessage, ReplyDelta

        out = []
        try:
            with override_settings(LLM_PROVIDER="local"):  # whatever this shell's environment says
                for text in texts:
                    t0 = time.perf_counter()
                    buffer = ConversationBuffer()
                    buffer.append(ContextMessage("client", text))
                    for delta in ai_copilot.suggestion_stream(buffer.context()):
                        if isinstance(delta, ReplyDelta):
                            out.append(time.perf_counter() - t0)
                            break
        finally:
            close_old_connections()
        return out

    def cpu_by_process(self) -> dict[str, float]:
        """CPU seconds (user + system) so far of daphne, the workers, the stub, PostgreSQL and Redis, and this
        process (the clients). Children that exited count too (`_cpu`): PostgreSQL's backends come and go with the
        web processes' connections."""
        out: dict[str, float] = {}
        for child in self.children:
            child.snapshot()
            out[child.label] = sum(_cpu(p) for p in child.tree)
        out.update(postgres=0.0, redis=0.0)
        for kind, proc in server_processes(self.data_dir):
            out[kind] += _cpu(proc)
        out["bench clients"] = _cpu(psutil.Process())
        return out

    def stages(self, marker: str, sent_wall: float, total: float, into: dict[str, list[float]]) -> None:
        """Where the time went, from the stored rows (wall clock, same machine): the customer's frame → the message
        stored; → the suggestion row created (commit, hook, Celery hop, context and retrieval); → the first reply
        token on the agent's socket (the model's request and stream, parsing, fan-out)."""
        from django.db import close_old_connections

        from apps.conversations.models import Message
        from apps.copilot.models import Suggestion

        try:
            message = Message.objects.filter(text__contains=marker, role="customer").first()
            row = Suggestion.objects.filter(trigger_message=message).first() if message else None
            if message is None or row is None:
                return
            stored = message.created_at.timestamp() - sent_wall
            created = row.created_at.timestamp() - sent_wall
            into["stored"].append(stored)
            into["row"].append(created - stored)
            into["socket"].append(total - created)
            into.setdefault("per_message", []).append(  # type: ignore[arg-type]
                (stored, created - stored, total - created, float(row.first_token_ms or 0) / 1000)
            )
        finally:
            close_old_connections()

    def diagnose(self, marker: str, sent_wall: float) -> dict[str, Any]:
        """What the stored rows say of a message that got no first token: was it stored, did a suggestion row
        survive and was it silent (retrieval under the threshold: no model call, no reply to time; the marker
        appended to the question moves its retrieval a little), and the copilot's model calls that failed around it
        (outcome and error class only)."""
        from django.db import close_old_connections

        from apps.ai.models import LLMCall
        from apps.conversations.models import Message
        from apps.copilot.models import Suggestion

        try:
            message = Message.objects.filter(text__contains=marker, role="customer").first()
            since = dt.datetime.fromtimestamp(sent_wall - 1, tz=dt.UTC)
            failed = LLMCall.objects.filter(purpose="copilot", created_at__gte=since).exclude(outcome="ok")
            rows = Suggestion.objects.filter(trigger_message=message) if message else Suggestion.objects.none()
            return {
                "stored": message is not None,
                "suggestions": list(rows.values_list("silent", "provider")),
                "failed_calls_since": list(failed.values_list("outcome", "error_type")[:5]),
            }
        finally:
            close_old_connections()

    # ----------------------------------------------------------------- the phase

    def phase_latency(self) -> None:
        cookies = self.agents_create(self.args.conversations)
        self.results["latency"] = asyncio.run(self._copilot_latency(cookies))

    async def _copilot_latency(self, cookies: list[str]) -> dict[str, Any]:
        args = self.args
        n = args.conversations
        out: dict[str, Any] = {"conversations": n, "rounds": args.rounds, "warmup": args.warmup, "spread_s": args.spread,
                               "ttft_s": args.ttft, "token_delay_s": args.token_delay,
                               "provider": args.provider}  # fmt: skip
        pairs, _ = await self.sessions(n, 4)
        customers: list[Sock] = []
        agents: list[Sock] = []
        try:
            for i, (token, cid) in enumerate(pairs):
                sock = await self.widget(token, f"customer {i}")
                sock.open_cid = cid
                await sock.send({"type": "human"})
                await sock.expect(_is("status", status="escalated"), 60, "status escalated after a human frame")
                customers.append(sock)
            for i, cookie in enumerate(cookies):
                sock = await self.connect("/ws/console/", f"agent {i}", cookie)
                await sock.expect(_is("hello"), 30, "the console's hello frame")
                sock.open_cid = customers[i].open_cid
                await sock.send({"type": "open", "conversation_id": sock.open_cid})
                await sock.expect(_is("ack", of="open"), 30, "the open ack")
                agents.append(sock)
            await self._quiet(agents + customers, 1.5, args.timeout)
            _log(f"{n} escalated conversations, each open on one console; {args.warmup}+{args.rounds} rounds")

            sent: dict[str, tuple[int, float]] = {}  # marker -> (agent index, send time)
            sent_wall: dict[str, float] = {}
            stages: dict[str, list[float]] = {"stored": [], "row": [], "socket": []}
            first: dict[str, float] = {}

            def on_agent(sock: Sock, msg: str, t: float) -> bool:
                marker = waiting.get(id(sock))
                if marker is not None and marker not in first and "conv-row-" not in msg:  # inbox rows aside
                    seen.setdefault(marker, []).append(msg[:160].replace("\n", " "))
                if marker is None or marker in first or FIRST_TOKEN not in msg or "beforeend" not in msg:
                    return False
                first[marker] = t
                return True

            waiting: dict[int, str] = {}
            seen: dict[str, list[str]] = {}  # frames before the first token (inbox rows aside), for a missed message
            for s in agents:
                s.drain()
                s.on_frame = on_agent
            rng = random.Random(args.seed)
            cpu0 = self.cpu_by_process()
            ours: list[float] = []
            added: list[float] = []
            stub_ttft: list[float] = []
            raw: list[float] = []
            missing = 0
            for k in range(args.warmup + args.rounds):
                measured = k >= args.warmup
                markers = []
                texts = []
                for i in range(len(customers)):
                    marker = f"bench-q{k * n + i}-{secrets.token_hex(3)}"
                    markers.append(marker)
                    texts.append(f"{QUESTIONS[(k + i) % len(QUESTIONS)]} (ref {marker})")
                    waiting[id(agents[i])] = marker
                t_round = time.perf_counter()
                offsets = sorted((rng.uniform(0, args.spread), i) for i in range(n))
                for offset, i in offsets:
                    await asyncio.sleep(max(0.0, t_round + offset - time.perf_counter()))
                    text = texts[i]
                    sent[markers[i]] = (i, time.perf_counter())
                    sent_wall[markers[i]] = time.time()
                    await customers[i].send({"type": "message", "text": text})
                deadline = time.monotonic() + args.deliver_timeout
                while time.monotonic() < deadline and not all(m in first for m in markers):
                    await asyncio.sleep(0.01)
                waiting.clear()
                await self._quiet(agents + customers, args.settle, args.timeout)  # every suggestion finished
                local = args.provider == "local"
                raw_timings = [] if local else await self.stub_timings()
                timings = {t["marker"]: t for t in raw_timings if t.get("marker")}
                for marker in markers:
                    streamed = local or (marker in timings and timings[marker].get("first_token") is not None)
                    if marker not in first or not streamed:
                        missing += measured
                        rows = await asyncio.to_thread(self.diagnose, marker, sent_wall[marker])
                        out.setdefault("missed", []).append({"marker": marker, **rows})
                        _log(f"{marker}: on the socket {marker in first}, stub stream {marker in timings}; stored "
                             f"rows {rows}; frames before: {seen.get(marker, [])[:6]}")  # fmt: skip
                        continue
                    if not measured:
                        continue
                    total = first[marker] - sent[marker][1]
                    ours.append(total)
                    await asyncio.to_thread(self.stages, marker, sent_wall[marker], total, stages)
                    if local:  # no model: nothing of anybody else's to subtract
                        added.append(total)
                        continue
                    stub = timings[marker]["token_times"][self.reply_piece] - timings[marker]["received"]
                    stub_ttft.append(stub)
                    added.append(total - stub)
                if measured:
                    raw.extend(await (asyncio.to_thread(self.raw_local, texts) if local else self.raw_ttft(n)))
                _log(f"round {k + 1}/{args.warmup + args.rounds}: {time.perf_counter() - t_round:.1f} s")
            per_message = stages.pop("per_message", [])
            out["stages"] = {k: _stats(v) for k, v in stages.items()}
            # The 10 slowest messages' stages (s): stored, row created, first reply token, the worker's first_token_ms.
            out["slowest"] = sorted(per_message, key=lambda t: -(t[0] + t[1] + t[2]))[:10]
            cpu1 = self.cpu_by_process()
            total_messages = n * (args.warmup + args.rounds)
            out["cpu_ms_per_message"] = {k: (cpu1[k] - cpu0.get(k, 0.0)) * 1000 / total_messages for k in cpu1}
            out.update(ours=_stats(ours), added=_stats(added), stub_ttft=_stats(stub_ttft), raw=_stats(raw))
            out["added_p95"] = pct(added, 95)
            out["missing"] = missing
            out["closed_sockets"] = sum(s.closed_at is not None for s in agents + customers)
            _log(f"added latency p50 {_ms(out['added']['p50'])} p99 {_ms(out['added']['p99'])}; missing {missing}")
        finally:
            await asyncio.gather(*(s.close() for s in agents + customers), return_exceptions=True)
        return out


# --------------------------------------------------------------------------- options


def parse_args(argv: list[str]) -> argparse.Namespace:
    doc = (__doc__ or "").splitlines()[0]
    parser = argparse.ArgumentParser(prog="python -m bench copilot", description=doc)
    parser.add_argument("--only", default=",".join(PHASES), help=f"comma-separated phases among {','.join(PHASES)}")
    parser.add_argument("--conversations", type=int, default=20, help="concurrent conversations [20]")
    parser.add_argument("--rounds", type=int, default=10, help="rounds measured (one message per conversation) [10]")
    parser.add_argument("--warmup", type=int, default=1, help="rounds sent first and not counted [1]")
    parser.add_argument(
        "--provider",
        choices=("openai", "local"),
        default="openai",
        help="the model: the OpenAI-compatible stub, or the offline local provider (no stub) [openai]",
    )
    parser.add_argument("--ttft", type=float, default=0.3, help="the stub's delay before its first token, s [0.3]")
    parser.add_argument("--token-delay", type=float, default=0.02, help="the stub's delay between tokens, s [0.02]")
    parser.add_argument(
        "--threads", type=int, default=32, help="each copilot worker's threads [32, COPILOT_WORKER_THREADS' default]"
    )
    parser.add_argument("--workers", type=int, default=1, help="copilot worker processes [1]")
    parser.add_argument(
        "--spread",
        type=float,
        default=0.0,
        help="each round's messages are sent at random moments over this many "
        "seconds; 0: all at once, the worst case [0]",
    )
    parser.add_argument("--seed", type=int, default=7, help="of the random moments [7]")
    parser.add_argument("--settle", type=float, default=1.0, help="quiet seconds that end a round [1]")
    parser.add_argument("--deliver-timeout", type=float, default=30.0, help="bound per round, seconds [30]")
    parser.add_argument("--timeout", type=float, default=180.0, help="bound of every other wait, seconds [180]")
    parser.add_argument("--json", type=Path, default=None, help="default bench/results/copilot-DATE.json")
    parser.add_argument("--keep-logs", type=Path, default=None, help="copy the logs (daphne, worker, stub) there")
    parser.add_argument(
        "--worker-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra setting for the copilot workers (repeatable; an experiment, printed with the results)",
    )
    args = parser.parse_args(argv)
    args.worker_env = env_assignments(parser, args.worker_env, "--worker-env")
    args.phases = [p.strip() for p in args.only.split(",") if p.strip()]
    if unknown := set(args.phases) - set(PHASES):
        parser.error(f"unknown phase(s): {', '.join(sorted(unknown))}")
    if min(args.conversations, args.rounds) < 1 or args.warmup < 0:
        parser.error("sizes must be at least 1 (warm-up at least 0)")
    # What bench.livechat's set-up reads.
    args.idle_sockets, args.daphne_env = 0, {}
    return args


def main(argv: list[str] | None = None) -> int:
    return bench_main("copilot", argv, parse_args, Bench, PHASES, report, _log)


def report(r: dict[str, Any], args: argparse.Namespace, argv: list[str]) -> None:
    machine = _machine()
    free = free_g()
    out = ["### Copilot benchmark (`bench/copilot.py`)", "", f"Command: `{command_line('copilot', argv)}`", ""]
    out.append(
        f"Date: {machine['date']}. Machine: {machine['nproc']} CPUs (`nproc`), {machine['cpu']}, {machine['memory']}, "
        f"{machine['os']}, Python {machine['python']}. Whole run: {r.get('total_s', 0):.0f} s; processes left "
        f"over: {r.get('leftover_processes', 'n/a')}. `free -g`:"
    )
    out += ["", "```", free, "```", "", phases_line(r, PHASES)]
    code = r.get("code", {})
    out += ["", f"Code measured: commit `{code.get('commit')}`."]
    if args.worker_env:
        settings = ", ".join(f"`{k}={v}`" for k, v in args.worker_env.items())
        out += ["", f"The copilot workers ran with {settings} on top of the defaults (an experiment)."]
    lat = r.get("latency")
    if lat and "added" in lat:
        a, o, s, w = lat["added"], lat["ours"], lat["stub_ttft"], lat["raw"]
        local = lat.get("provider") == "local"
        model = (
            "the offline `local` provider (no model to subtract: the added latency is ours)"
            if local
            else f"the stub waits {lat['ttft_s'] * 1000:.0f} ms before its first token, then "
            f"{lat['token_delay_s'] * 1000:.0f} ms between tokens"
        )
        added_what = "ours" if local else "ours − the stub's time to the first reply token"
        model_rows = (
            [
                f"| Raw baseline: the same suggestion computed in-process (passages, first reply piece) | "
                f"{_ms(w['p50'])} | {_ms(w['p99'])} | {_ms(w['max'])} | {w['n']} |"
            ]
            if local
            else [
                f"| The stub's time to the first reply token (inside the stub) | {_ms(s['p50'])} | {_ms(s['p99'])} "
                f"| {_ms(s['max'])} | {s['n']} |",
                f"| Raw baseline: streaming request straight to the stub, first token | {_ms(w['p50'])} | "
                f"{_ms(w['p99'])} | {_ms(w['max'])} | {w['n']} |",
            ]
        )
        out += [
            "",
            f"{lat['conversations']} concurrent conversations, {lat['rounds']} rounds after {lat['warmup']} warm-up; "
            f"{model}. "
            + (
                f"Each round's {lat['conversations']} messages are sent at random moments over {lat['spread_s']:.0f} s."
                if lat.get("spread_s")
                else f"Each round's {lat['conversations']} messages are sent at once (the worst case)."
            ),
            "",
            "| Measure | p50 | p99 | max | n |",
            "|---|---:|---:|---:|---:|",
            f"| **Added latency** ({added_what}) | "
            f"**{_ms(a['p50'])}** | **{_ms(a['p99'])}** | {_ms(a['max'])} | {a['n']} |",
            f"| Ours: customer frame → first reply token on the agent's socket | {_ms(o['p50'])} | {_ms(o['p99'])} "
            f"| {_ms(o['max'])} | {o['n']} |",
            *model_rows,
            "",
            "Where the time goes (p50 / p99, from the stored rows' timestamps): "
            + "; ".join(
                f"{label} {_ms(lat['stages'][key]['p50'])} / {_ms(lat['stages'][key]['p99'])}"
                for key, label in (
                    ("stored", "customer frame → message stored"),
                    ("row", "→ suggestion row created (commit, hook, Celery hop, context, retrieval)"),
                    (
                        "socket",
                        "→ first reply token on the agent's socket (model request and stream, parsing, fan-out)",
                    ),
                )
            )
            + ".",
            "",
            "CPU per customer message (ms, every process of the run): "
            + ", ".join(f"{k} {v:,.0f}" for k, v in sorted(lat.get("cpu_ms_per_message", {}).items()))
            + ".",
            "",
            f"Ratio ours / raw baseline at p50: {o['p50'] / w['p50']:.2f}x. Messages without a measured first token: "
            f"{lat['missing']}; sockets closed: {lat['closed_sockets']}.",
        ]
    text = "\n".join(out)
    print(text, flush=True)
    path = args.json or BASE_DIR / "bench" / "results" / f"copilot-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    payload = {"command": command_line("copilot", argv), "machine": machine, "free_g": free, "results": r,
               "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}, "markdown": text}  # fmt: skip
    write_json(path, payload, _log)


if __name__ == "__main__":
    sys.exit(main())
