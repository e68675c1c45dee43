"""Live chat (SPEC §6, issue 5): customer → agent latency over real WebSockets, idle widget sockets per daphne.

Run: `cd /work/main && .venv/bin/python -m bench livechat` (about 6 min on 2 idle cores; `--quick` about 2 min;
`-h` for the sizes). One daphne process (the command of `manage.py runstack`) serves a fresh temporary data dir
under /tmp (`SUPPORTDESK_DATA_DIR`, `DATABASE_URL`/`REDIS_URL` unset, `LLM_PROVIDER=local`, dev settings),
migrated first and removed at the end; this process loads Django on the same data dir to create the agents and
their sessions, and drives every socket with the `websockets` client on one asyncio loop. Every process started
is stopped on success, on error and on Ctrl-C (then checked: none may be left); every wait is bounded. The figures
are printed as Markdown and a JSON copy goes to bench/results/livechat-DATE.json.

Measured:
1. latency: C customers (`POST /api/widget/sessions`, then `/ws/widget/?token=`), each conversation escalated by
   the customer's `{"type":"human"}` frame (the bot stays silent), and A agents on `/ws/console/` (session cookie
   of a logged-in agent, allowed Origin): every console sends its `inbox` frame and the first O agents also `open`
   one of the conversations (round robin). Then M customer `message` frames, one at a time, round robin over the
   customers: the time from the send to each console receiving its fragment (the message itself for the consoles
   that have the conversation open, the inbox row insert for the others), first agent, last agent, every
   delivery; and the customer's own echo (the stored message coming back). Raw baseline, interleaved message by
   message: a Redis PUBLISH through the same Redis server to A subscribers (one connection each).
2. idle: N idle widget sockets on the one daphne (each its own session and conversation), daphne's RSS/PSS/USS
   before and after (memory per socket), held for H seconds: how many stayed open, daphne's CPU while idle
   (against the same daphne with no socket), and whether each socket still answers a frame after the hold.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import resource
import secrets
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

from bench._harness import (  # noqa: E402
    Child,
    Harness,
    bench_main,
    command_line,
    env_assignments,
    free_g,
    pct,
    phases_line,
    write_json,
)
from bench.startup import BenchError, _machine, _pick_ports, _tail  # noqa: E402

PHASES = ("latency", "idle")
MIB = 1024 * 1024
AGENT_PASSWORD = secrets.token_urlsafe(16)
ROW_INSERT = 'hx-swap-oob="afterbegin:#inbox-rows"'


def _log(msg: str) -> None:
    print(f"bench.livechat: {msg}", file=sys.stderr, flush=True)


def _ms(v: float | None) -> str:
    return "n/a" if v is None else (f"{v * 1000:,.2f} ms" if v < 0.01 else f"{v * 1000:,.1f} ms")


def _x(ours: float | None, raw: float | None) -> str:
    return "n/a" if not ours or not raw else f"{ours / raw:,.0f}x"


def _mib(v: float | None) -> str:
    return "n/a" if v is None else f"{v / MIB:,.1f} MiB"


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=BASE_DIR, capture_output=True, text=True, timeout=10).stdout


def _code_state() -> dict[str, Any]:
    """The commit measured and the live-chat files that differ from it (other engineers may be editing them)."""
    out: dict[str, Any] = {"commit": None, "uncommitted": []}
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out["commit"] = _git("rev-parse", "--short", "HEAD").strip() or None
        status = _git("status", "--porcelain", "--", "apps/conversations", "apps/console", "apps/core", "supportdesk")
        out["uncommitted"] = [line[3:] for line in status.splitlines() if line.strip()]
    return out


def _stats(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "p50": pct(values, 50),
        "p99": pct(values, 99),
        "max": max(values) if values else None,
        "mean": statistics.mean(values) if values else None,
    }


async def _bounded(aw: Any, timeout: float, what: str) -> Any:
    try:
        return await asyncio.wait_for(aw, timeout)
    except TimeoutError as exc:
        raise BenchError(f"timed out after {timeout:.0f} s: {what}") from exc


# --------------------------------------------------------------------------- one client socket


class Sock:
    """A client WebSocket with its own reader task: every frame is timestamped on arrival, offered to ``on_frame``
    (the measurement's matcher) and otherwise queued for the set-up steps."""

    def __init__(self, ws: Any, name: str) -> None:
        self.ws, self.name = ws, name
        self.frames: asyncio.Queue[tuple[float, str]] = asyncio.Queue()
        self.on_frame: Callable[[Sock, str, float], bool] | None = None
        self.received = 0
        self.closed_at: float | None = None
        self.close_code: int | None = None
        self.open_cid: int | None = None
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for raw in self.ws:
                t = time.perf_counter()
                msg = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
                self.received += 1
                if self.on_frame is not None and self.on_frame(self, msg, t):
                    continue
                self.frames.put_nowait((t, msg))
        except ConnectionClosed:
            pass
        finally:
            self.closed_at = time.perf_counter()
            self.close_code = self.ws.close_code

    async def expect(self, predicate: Callable[[str], bool], timeout: float, what: str) -> tuple[float, str]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BenchError(f"{self.name}: timed out after {timeout:.0f} s waiting for {what}")
            if self.closed_at is not None and self.frames.empty():
                raise BenchError(f"{self.name}: closed (code {self.close_code}) while waiting for {what}")
            try:
                t, msg = await asyncio.wait_for(self.frames.get(), min(remaining, 0.5))
            except TimeoutError:
                continue
            if predicate(msg):
                return t, msg

    def drain(self) -> int:
        n = 0
        while not self.frames.empty():
            self.frames.get_nowait()
            n += 1
        return n

    async def send(self, payload: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(payload))

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), 5)
        self.task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(self.task, 5)


def _json(msg: str) -> dict[str, Any]:
    with contextlib.suppress(ValueError):
        value = json.loads(msg)
        if isinstance(value, dict):
            return value
    return {}


def _is(kind: str, **fields: Any) -> Callable[[str], bool]:
    def predicate(msg: str) -> bool:
        frame = _json(msg)
        return frame.get("type") == kind and all(frame.get(k) == v for k, v in fields.items())

    return predicate


# --------------------------------------------------------------------------- the benchmark


@dataclass
class Current:
    """The message in flight: who has received it, when."""

    k: int
    cid: int
    marker: str
    t0: float = 0.0
    agents: dict[int, float] = field(default_factory=dict)
    echo: float | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Bench(Harness):
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        super().__init__(args, tmp)
        self.saved_nofile = resource.getrlimit(resource.RLIMIT_NOFILE)  # restored by teardown()
        self.daphne: Child | None = None
        self.base = ""
        self.origin = ""

    # ----------------------------------------------------------------- set-up

    def setup(self) -> None:
        """Raise the open-files limit, `manage.py migrate` the fresh data dir, load Django here, start daphne."""
        self.results["code"] = _code_state()  # what daphne is about to load
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = self.args.idle_sockets * 2 + 2048  # both ends of every socket live on this machine
        if soft < want:
            new = want if hard == resource.RLIM_INFINITY else min(want, hard)
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        self.results["nofile"] = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if self.results["nofile"] < want:
            _log(f"open-files limit {self.results['nofile']} < {want}: some idle sockets may fail to open")
        self.migrate_and_load_django()
        from django.conf import settings

        self.redis_url = settings.REDIS_URL
        self.start_daphne()

    def start_daphne(self) -> None:

        (port,) = _pick_ports(1, self.tracker.ports)
        # Every client is 127.0.0.1: the per-IP limits (20 messages/min, 60 sessions/h) would stop the load itself.
        env = dict(self.env, WIDGET_RATE_LIMIT="100000000", WIDGET_SESSIONS_RATE_LIMIT="100000000")
        env.update(self.args.daphne_env)  # experiments, e.g. DB_CONN_MAX_AGE=60 (reported with the results)
        daphne = str(Path(sys.executable).parent / "daphne")
        cmd = [daphne, "-b", "127.0.0.1", "-p", str(port), "--proxy-headers", "supportdesk.asgi:application"]
        d = Child("daphne", cmd, env, self.tracker, self.logs / "daphne.log")
        self.children.append(d)
        d.start()
        self.daphne = d
        self.base = f"http://127.0.0.1:{port}"
        self.ws_base = f"ws://127.0.0.1:{port}"
        self.origin = self.base
        d.wait_http_ok(f"{self.base}/healthz", self.args.timeout)
        if len(d.tree) != 1:
            _log(f"daphne runs as {len(d.tree)} processes; memory and CPU are summed over them")

    def daphne_procs(self) -> list[psutil.Process]:
        assert self.daphne is not None
        self.daphne.snapshot()
        return self.daphne.tree

    def daphne_memory(self) -> dict[str, int]:
        out = {"rss": 0, "pss": 0, "uss": 0}
        for p in self.daphne_procs():
            m = p.memory_full_info()
            out["rss"] += m.rss
            out["pss"] += getattr(m, "pss", 0)
            out["uss"] += m.uss
        return out

    def daphne_cpu(self) -> float:
        total = 0.0
        for p in self.daphne_procs():
            c = p.cpu_times()
            total += c.user + c.system
        return total

    def agents_create(self, count: int) -> list[str]:
        """Agent users (group `agent`) and one logged-in session each; returns the session cookies."""
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group
        from django.test import Client

        from apps.core.services import AGENT_GROUP

        group, _ = Group.objects.get_or_create(name=AGENT_GROUP)
        cookies = []
        for i in range(count):
            user, created = get_user_model().objects.get_or_create(username=f"bench-agent-{i:03d}")
            if created:
                user.set_password(AGENT_PASSWORD)
                user.save()
                user.groups.add(group)
            client = Client()
            client.force_login(user)
            cookies.append(f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}")
        return cookies

    # ----------------------------------------------------------------- client helpers

    async def sessions(self, count: int, concurrency: int) -> tuple[list[tuple[str, int]], list[float]]:
        """`count` widget sessions through the public API; returns (token, conversation id) pairs and latencies."""
        import httpx

        out: list[tuple[str, int]] = []
        lat: list[float] = []
        it = iter(range(count))
        async with httpx.AsyncClient(timeout=30) as client:

            async def one() -> None:
                for i in it:
                    t = time.perf_counter()
                    r = await client.post(f"{self.base}/api/widget/sessions", json={"name": f"Bench visitor {i}"})
                    lat.append(time.perf_counter() - t)
                    if r.status_code != 201:
                        raise BenchError(f"POST /api/widget/sessions: {r.status_code} {r.text[:200]}")
                    body = r.json()
                    out.append((body["token"], int(body["conversation_id"])))

            await _bounded(
                asyncio.gather(*(one() for _ in range(concurrency))), self.args.timeout, f"{count} widget sessions"
            )
        return out, lat

    async def connect(self, path: str, name: str, cookie: str | None = None) -> Sock:
        from websockets.asyncio.client import connect
        from websockets.typing import Origin

        headers = {"Cookie": cookie} if cookie else None
        ws = await connect(
            f"{self.ws_base}{path}",
            origin=Origin(self.origin),
            additional_headers=headers,
            open_timeout=30,
            close_timeout=5,
            ping_interval=None,  # idle means idle: only daphne's own pings (and our pongs) go over the wire
            max_size=2**22,
        )
        return Sock(ws, name)

    async def widget(self, token: str, name: str) -> Sock:
        sock = await self.connect(f"/ws/widget/?token={token}", name)
        await sock.expect(_is("status"), 30, "the status frame after the history")
        return sock

    # ----------------------------------------------------------------- 1. latency

    def phase_latency(self) -> None:
        args = self.args
        cookies = self.agents_create(args.agents)
        self.results["latency"] = asyncio.run(self._latency(cookies))

    async def _latency(self, cookies: list[str]) -> dict[str, Any]:
        import redis.asyncio as aioredis

        args = self.args
        out: dict[str, Any] = {
            "agents": args.agents,
            "open_agents": args.open_agents,
            "customers": args.customers,
            "messages": args.messages,
            "warmup": args.warmup,
        }
        pairs, _ = await self.sessions(args.customers, 4)
        customers: list[Sock] = []
        agents: list[Sock] = []
        subs: list[Any] = []
        sub_tasks: list[asyncio.Task[None]] = []
        publisher = aioredis.Redis.from_url(self.redis_url)
        try:
            for i, (token, cid) in enumerate(pairs):
                sock = await self.widget(token, f"customer {i}")
                sock.open_cid = cid
                await sock.send({"type": "human"})
                await sock.expect(_is("status", status="escalated"), 60, "status escalated after a human frame")
                customers.append(sock)
            cids = [c.open_cid for c in customers]
            _log(f"latency: {len(customers)} escalated conversations; connecting {args.agents} consoles…")
            t_conn = time.perf_counter()
            for i, cookie in enumerate(cookies):
                sock = await self.connect("/ws/console/", f"agent {i}", cookie)
                await sock.expect(_is("hello"), 30, "the console's hello frame")
                await sock.send({"type": "inbox", "tab": "unassigned", "rows": ",".join(map(str, cids))})
                await sock.expect(_is("ack", of="inbox"), 30, "the inbox ack")
                if i < args.open_agents:
                    sock.open_cid = cids[i % len(cids)]
                    await sock.send({"type": "open", "conversation_id": sock.open_cid})
                    await sock.expect(_is("ack", of="open"), 30, "the open ack")
                agents.append(sock)
            out["consoles_connect_s"] = time.perf_counter() - t_conn
            # Besides hello and the acks, what the consoles got while the others connected (presence.changed).
            out["connect_frames"] = sum(s.received for s in agents) - 2 * len(agents) - args.open_agents
            # Each console coming online tells every other console (presence.changed): wait until they are quiet.
            quiet_s, settle_frames = await self._quiet(agents + customers, 2.0, args.timeout)
            out["consoles_settle_s"] = quiet_s
            out["settle_frames"] = settle_frames
            _log(f"latency: consoles connected in {out['consoles_connect_s']:.1f} s, quiet after {quiet_s:.1f} s")

            # Raw baseline: A subscribers on their own connections to the same Redis server.
            channel = f"bench:livechat:{secrets.token_hex(4)}"
            raw_cur: dict[str, Any] = {}

            async def subscriber(idx: int) -> None:
                client = aioredis.Redis.from_url(self.redis_url)
                subs.append(client)
                pubsub = client.pubsub()
                await pubsub.subscribe(channel)
                ready.append(idx)
                async for m in pubsub.listen():
                    t = time.perf_counter()
                    if m.get("type") != "message":
                        continue
                    if raw_cur.get("marker") == m["data"] and idx not in raw_cur["got"]:
                        raw_cur["got"][idx] = t
                        if len(raw_cur["got"]) == args.agents:
                            raw_cur["done"].set()

            ready: list[int] = []
            sub_tasks.extend(asyncio.create_task(subscriber(i)) for i in range(args.agents))
            deadline = time.monotonic() + 30
            while len(ready) < args.agents:
                if time.monotonic() > deadline:
                    raise BenchError("Redis subscribers not ready within 30 s")
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)

            current: list[Current] = []
            unmatched: Counter[str] = Counter()

            def on_agent(sock: Sock, msg: str, t: float) -> bool:
                cur = current[0] if current else None
                idx = agents_index[id(sock)]
                if cur is None or idx in cur.agents:
                    unmatched["outside a message" if cur is None else "after its delivery"] += 1
                    return False
                if sock.open_cid == cur.cid:
                    ok = cur.marker in msg
                else:
                    ok = ROW_INSERT in msg and f'data-conversation-id="{cur.cid}"' in msg
                if not ok:
                    unmatched["other"] += 1
                    return False
                cur.agents[idx] = t
                if len(cur.agents) == len(agents) and cur.echo is not None:
                    cur.done.set()
                return True

            def on_customer(sock: Sock, msg: str, t: float) -> bool:
                cur = current[0] if current else None
                if cur is None or sock.open_cid != cur.cid or cur.echo is not None:
                    return False
                frame = _json(msg)
                if (
                    frame.get("type") == "message"
                    and frame.get("role") == "customer"
                    and frame.get("text") == cur.marker
                ):
                    cur.echo = t
                    if len(cur.agents) == len(agents):
                        cur.done.set()
                    return True
                return False

            agents_index = {id(s): i for i, s in enumerate(agents)}
            for s in agents:
                s.drain()
                s.on_frame = on_agent
            for s in customers:
                s.drain()
                s.on_frame = on_customer

            first: list[float] = []
            last: list[float] = []
            every: list[float] = []
            every_open: list[float] = []
            every_row: list[float] = []
            echo: list[float] = []
            raw_first: list[float] = []
            raw_last: list[float] = []
            raw_every: list[float] = []
            incomplete = 0
            raw_incomplete = 0
            cpu0 = self.daphne_cpu()
            t_start = time.perf_counter()
            total = args.warmup + args.messages
            for k in range(total):
                measured = k >= args.warmup
                sock = customers[k % len(customers)]
                assert sock.open_cid is not None
                marker = f"bench-m{k:04d}-{secrets.token_hex(4)}"
                cur = Current(k, sock.open_cid, marker)
                current[:] = [cur]
                cur.t0 = time.perf_counter()
                await sock.send({"type": "message", "text": marker})
                try:
                    await asyncio.wait_for(cur.done.wait(), args.deliver_timeout)
                except TimeoutError:
                    incomplete += measured
                    _log(
                        f"latency: message {k}: {len(cur.agents)}/{len(agents)} consoles, echo "
                        f"{cur.echo is not None} within {args.deliver_timeout:.0f} s"
                    )
                current.clear()
                if measured and cur.agents:
                    times = [t - cur.t0 for t in cur.agents.values()]
                    first.append(min(times))
                    if len(times) == len(agents):
                        last.append(max(times))
                    every.extend(times)
                    for idx, t in cur.agents.items():
                        (every_open if agents[idx].open_cid == cur.cid else every_row).append(t - cur.t0)
                if measured and cur.echo is not None:
                    echo.append(cur.echo - cur.t0)
                # The raw baseline, right after: the same fan-out through Redis pub/sub.
                # A payload the size of the contract's event, unique per round.
                event = {"type": "message.new", "conversation_id": cur.cid, "message_id": k, "role": "customer"}
                raw_payload = json.dumps({**event, "n": secrets.token_hex(4)}).encode()
                raw_cur.clear()
                raw_cur.update(marker=raw_payload, got={}, done=asyncio.Event())
                t0 = time.perf_counter()
                await publisher.publish(channel, raw_payload)
                try:
                    await asyncio.wait_for(raw_cur["done"].wait(), args.deliver_timeout)
                except TimeoutError:
                    raw_incomplete += measured
                if measured and raw_cur["got"]:
                    times = [t - t0 for t in raw_cur["got"].values()]
                    raw_first.append(min(times))
                    if len(times) == args.agents:
                        raw_last.append(max(times))
                    raw_every.extend(times)
                if (k + 1) % 50 == 0:
                    _log(f"latency: {k + 1}/{total} messages")
                await asyncio.sleep(args.gap)
            elapsed = time.perf_counter() - t_start
            out["daphne_cpu_s_per_message"] = (self.daphne_cpu() - cpu0) / total
            out["elapsed_s"] = elapsed
            out["incomplete"] = incomplete
            out["raw_incomplete"] = raw_incomplete
            out["unmatched_frames"] = dict(unmatched)
            out["closed_sockets"] = sum(s.closed_at is not None for s in agents + customers)
            out["ours"] = {
                "first": _stats(first),
                "last": _stats(last),
                "every": _stats(every),
                "every_open": _stats(every_open),
                "every_row": _stats(every_row),
                "echo": _stats(echo),
            }
            out["raw"] = {"first": _stats(raw_first), "last": _stats(raw_last), "every": _stats(raw_every)}
            o, r = out["ours"], out["raw"]
            _log(
                f"latency: first agent p50 {_ms(o['first']['p50'])} p99 {_ms(o['first']['p99'])}; all agents p50 "
                f"{_ms(o['last']['p50'])} p99 {_ms(o['last']['p99'])}; raw all p50 {_ms(r['last']['p50'])}"
            )
        finally:
            for t in sub_tasks:
                t.cancel()
            for t in sub_tasks:
                with contextlib.suppress(BaseException):
                    await asyncio.wait_for(t, 5)
            for c in [*subs, publisher]:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(c.aclose(), 5)
            await asyncio.gather(*(s.close() for s in agents + customers), return_exceptions=True)
        return out

    async def _quiet(self, socks: list[Sock], quiet: float, timeout: float) -> tuple[float, int]:
        """Wait until no socket has received a frame for ``quiet`` seconds; return (seconds waited, frames)."""
        t0 = time.perf_counter()
        start = sum(s.received for s in socks)
        last_total, last_change = start, time.perf_counter()
        while True:
            await asyncio.sleep(0.1)
            total = sum(s.received for s in socks)
            now = time.perf_counter()
            if total != last_total:
                last_total, last_change = total, now
            elif now - last_change >= quiet:
                return last_change - t0, total - start
            if now - t0 > timeout:
                raise BenchError(f"the sockets did not go quiet within {timeout:.0f} s")

    # ----------------------------------------------------------------- 2. idle sockets

    def phase_idle(self) -> None:
        self.results["idle"] = asyncio.run(self._idle())

    async def _idle(self) -> dict[str, Any]:
        args = self.args
        n = args.idle_sockets
        out: dict[str, Any] = {"sockets": n, "hold_s": args.hold}
        # Warm: one socket through the whole path, so that lazy imports and caches are not counted per socket.
        (warm,), _ = await self.sessions(1, 1)
        s = await self.widget(warm[0], "warm-up")
        await s.close()
        await asyncio.sleep(3)
        before = self.daphne_memory()
        out["before"] = before
        cpu0, t0 = self.daphne_cpu(), time.perf_counter()
        await asyncio.sleep(args.idle_baseline)
        out["cpu_idle_empty"] = (self.daphne_cpu() - cpu0) / (time.perf_counter() - t0)
        _log(f"idle: daphne {_mib(before['rss'])} RSS with no socket; creating {n:,} sessions…")
        t_sess = time.perf_counter()
        pairs, sess_lat = await self.sessions(n, 8)
        out["sessions_per_s"] = n / (time.perf_counter() - t_sess)
        out["session_latency"] = _stats(sess_lat)
        socks: list[Sock] = []
        failures: Counter[str] = Counter()
        conn_lat: list[float] = []
        it = iter(enumerate(pairs))

        async def opener() -> None:
            for i, (token, _cid) in it:
                t = time.perf_counter()
                try:
                    socks.append(await self.widget(token, f"idle {i}"))
                    conn_lat.append(time.perf_counter() - t)
                except Exception as exc:  # counted and reported: the point is how many a daphne holds
                    failures[type(exc).__name__] += 1

        try:
            t_open = time.perf_counter()
            await _bounded(
                asyncio.gather(*(opener() for _ in range(args.connect_concurrency))),
                args.timeout * 3,
                f"opening {n:,} widget sockets",
            )
            out["open_s"] = time.perf_counter() - t_open
            out["opened"] = len(socks)
            out["open_failures"] = dict(failures)
            out["connect_latency"] = _stats(conn_lat)
            _log(f"idle: {len(socks):,} sockets open in {out['open_s']:.1f} s; settling…")
            await asyncio.sleep(5)
            after = self.daphne_memory()
            out["after"] = after
            cpu0, t0 = self.daphne_cpu(), time.perf_counter()
            rss_max = after["rss"]
            while time.perf_counter() - t0 < args.hold:
                await asyncio.sleep(min(5.0, max(0.1, args.hold - (time.perf_counter() - t0))))
                rss_max = max(rss_max, self.daphne_memory()["rss"])
            out["cpu_idle_sockets"] = (self.daphne_cpu() - cpu0) / (time.perf_counter() - t0)
            out["rss_max_during_hold"] = rss_max
            out["closed_during_hold"] = sum(x.closed_at is not None for x in socks)
            out["close_codes"] = dict(Counter(str(x.close_code) for x in socks if x.closed_at is not None))
            # Still served: every socket gets an answer to a frame (an unknown type is answered with an error frame).
            alive = [x for x in socks if x.closed_at is None]
            for x in alive:
                x.drain()
            t_ans = time.perf_counter()
            await asyncio.gather(*(x.send({"type": "bench-ping"}) for x in alive), return_exceptions=True)

            async def answered(x: Sock) -> bool:
                try:
                    await x.expect(_is("error", code="unknown_type"), 60, "the error frame")
                    return True
                except BenchError:
                    return False

            results = await asyncio.gather(*(answered(x) for x in alive))
            out["answered_after_hold"] = sum(results)
            out["answer_all_s"] = time.perf_counter() - t_ans
            per = max(len(socks), 1)
            out["per_socket"] = {k: (after[k] - before[k]) / per for k in ("rss", "pss", "uss")}
            _log(
                f"idle: {_mib(after['rss'] - before['rss'])} RSS for {len(socks):,} sockets "
                f"({out['per_socket']['rss'] / 1024:.1f} KiB each), {out['closed_during_hold']} closed during the "
                f"hold, {out['answered_after_hold']:,} answered after it"
            )
        finally:
            t_close = time.perf_counter()
            for i in range(0, len(socks), 100):
                await asyncio.gather(*(x.close() for x in socks[i : i + 100]), return_exceptions=True)
            out["close_all_s"] = time.perf_counter() - t_close
        with contextlib.suppress(psutil.Error):
            await asyncio.sleep(3)
            out["after_close"] = self.daphne_memory()
        return out

    # ----------------------------------------------------------------- teardown

    def teardown(self) -> list[str]:
        d = self.daphne
        if d is not None and d.proc is not None and d.proc.poll() is not None:
            _log(f"daphne had exited (code {d.proc.returncode}); log tail:\n{_tail(d.log)}")
        try:
            return super().teardown()
        finally:
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(resource.RLIMIT_NOFILE, self.saved_nofile)


# --------------------------------------------------------------------------- options

DEFAULTS = {
    "agents": (50, 50),
    "open_agents": (25, 25),
    "customers": (10, 5),
    "messages": (200, 40),
    "warmup": (10, 5),
    "idle_sockets": (1000, 200),
    "hold": (30.0, 10.0),
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    doc = (__doc__ or "").splitlines()[0]
    parser = argparse.ArgumentParser(prog="python -m bench livechat", description=doc)
    parser.add_argument("--quick", action="store_true", help="scaled down (about 2 min): the second default")
    parser.add_argument("--only", default=",".join(PHASES), help=f"comma-separated phases among {','.join(PHASES)}")
    parser.add_argument("--agents", type=int, help="console sockets, all in inbox.default [50; 50]")
    parser.add_argument("--open-agents", type=int, help="consoles that also open a conversation [25; 25]")
    parser.add_argument("--customers", type=int, help="escalated conversations, one widget socket each [10; 5]")
    parser.add_argument("--messages", type=int, help="customer messages measured, one at a time [200; 40]")
    parser.add_argument("--warmup", type=int, help="messages sent first and not counted [10; 5]")
    parser.add_argument("--gap", type=float, default=0.05, help="seconds between two messages [0.05]")
    parser.add_argument("--deliver-timeout", type=float, default=15.0, help="bound per message, seconds [15]")
    parser.add_argument("--idle-sockets", type=int, help="idle widget sockets held by the one daphne [1000; 200]")
    parser.add_argument("--hold", type=float, help="seconds the idle sockets are held [30; 10]")
    parser.add_argument("--idle-baseline", type=float, default=10.0, help="seconds of daphne idle CPU, no socket")
    parser.add_argument("--connect-concurrency", type=int, default=50, help="idle sockets opened at once [50]")
    parser.add_argument("--timeout", type=float, default=180.0, help="bound of every other wait, seconds [180]")
    parser.add_argument(
        "--daphne-env", action="append", default=[], metavar="NAME=VALUE", help="extra setting for daphne (repeatable)"
    )
    parser.add_argument("--json", type=Path, default=None, help="default bench/results/livechat-DATE.json")
    parser.add_argument("--keep-logs", type=Path, default=None, help="copy the logs (daphne, migrate) there")
    args = parser.parse_args(argv)
    for name, (full, quick) in DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    args.phases = [p.strip() for p in args.only.split(",") if p.strip()]
    if unknown := set(args.phases) - set(PHASES):
        parser.error(f"unknown phase(s): {', '.join(sorted(unknown))}")
    if min(args.agents, args.customers, args.messages, args.idle_sockets) < 1 or args.warmup < 0:
        parser.error("sizes must be at least 1 (warm-up at least 0)")
    args.open_agents = min(max(args.open_agents, 0), args.agents)
    args.daphne_env = env_assignments(parser, args.daphne_env, "--daphne-env")
    return args


def main(argv: list[str] | None = None) -> int:
    return bench_main("livechat", argv, parse_args, Bench, PHASES, report, _log)


# --------------------------------------------------------------------------- report


def report(r: dict[str, Any], args: argparse.Namespace, argv: list[str]) -> None:
    machine = _machine()
    free = free_g()
    out: list[str] = ["### Live chat benchmark (`bench/livechat.py`)", ""]
    out.append(f"Command: `{command_line('livechat', argv)}`")
    out.append("")
    out.append(
        f"Date: {machine['date']}. Machine: {machine['nproc']} CPUs (`nproc`), {machine['cpu']}, {machine['memory']}, "
        f"{machine['os']}, Python {machine['python']}. Whole run: {r.get('total_s', 0):.0f} s; processes left "
        f"over: {r.get('leftover_processes', 'n/a')}; open-files limit {r.get('nofile', 'n/a')}. `free -g`:"
    )
    out += ["", "```", free, "```", ""]
    out.append(phases_line(r, PHASES))
    code = r.get("code", {})
    dirty = ", ".join(f"`{p}`" for p in code.get("uncommitted", [])) or "none"
    out += [
        "",
        f"Code measured: commit `{code.get('commit')}`; uncommitted live-chat/server files at the start: {dirty}.",
    ]
    if args.daphne_env:
        settings = ", ".join(f"`{k}={v}`" for k, v in args.daphne_env.items())
        out += ["", f"daphne ran with {settings} on top of the defaults (an experiment, not the shipped settings)."]

    lat = r.get("latency")
    if lat and "ours" in lat:
        o, w = lat["ours"], lat["raw"]
        out += [
            "",
            f"#### 1. Customer → agent latency ({lat['messages']} messages after {lat['warmup']} warm-up, "
            f"{lat['agents']} consoles, {lat['open_agents']} with the conversation open, {lat['customers']} "
            "escalated conversations)",
            "",
            "| Measure | Ours: widget frame → console frame | Raw baseline: Redis PUBLISH → subscribers | Ratio |",
            "|---|---:|---:|---:|",
        ]
        rows = [
            ("First agent, p50", o["first"]["p50"], w["first"]["p50"]),
            ("First agent, p99", o["first"]["p99"], w["first"]["p99"]),
            (f"All {lat['agents']} agents (the last one), p50", o["last"]["p50"], w["last"]["p50"]),
            (f"All {lat['agents']} agents (the last one), p99", o["last"]["p99"], w["last"]["p99"]),
            ("Every delivery, p50", o["every"]["p50"], w["every"]["p50"]),
            ("Every delivery, p99", o["every"]["p99"], w["every"]["p99"]),
        ]
        for label, ours, raw in rows:
            out.append(f"| {label} | {_ms(ours)} | {_ms(raw)} | {_x(ours, raw)} |")
        out += [
            "",
            "| Ours, by frame | p50 | p99 | max | deliveries |",
            "|---|---:|---:|---:|---:|",
            f"| Console with the conversation open (message fragment) | {_ms(o['every_open']['p50'])} | "
            f"{_ms(o['every_open']['p99'])} | {_ms(o['every_open']['max'])} | {o['every_open']['n']:,} |",
            f"| Console with the inbox only (row insert) | {_ms(o['every_row']['p50'])} | {_ms(o['every_row']['p99'])} "
            f"| {_ms(o['every_row']['max'])} | {o['every_row']['n']:,} |",
            f"| The customer's own echo (stored message back on the widget) | {_ms(o['echo']['p50'])} | "
            f"{_ms(o['echo']['p99'])} | {_ms(o['echo']['max'])} | {o['echo']['n']:,} |",
            "",
            f"Messages not delivered to every console within {args.deliver_timeout:.0f} s: {lat['incomplete']} "
            f"(raw: {lat['raw_incomplete']}); sockets closed during the phase: {lat['closed_sockets']}; frames matching "
            f"no message: {lat['unmatched_frames'] or 'none'}. daphne CPU per message: "
            f"{lat['daphne_cpu_s_per_message'] * 1000:,.0f} ms. Connecting the {lat['agents']} consoles one after "
            f"the other took {lat['consoles_connect_s']:.1f} s ({lat['connect_frames']:,} presence frames to the consoles "
            f"meanwhile); they were quiet {lat['consoles_settle_s']:.1f} s later.",
        ]

    idle = r.get("idle")
    if idle and "after" in idle:
        b, a, per = idle["before"], idle["after"], idle["per_socket"]
        out += [
            "",
            f"#### 2. Idle widget sockets on one daphne ({idle['opened']:,} of {idle['sockets']:,} opened, held "
            f"{idle['hold_s']:.0f} s)",
            "",
            "| daphne | No socket (baseline) | With the idle sockets | Difference | Per socket |",
            "|---|---:|---:|---:|---:|",
        ]
        for k in ("rss", "pss", "uss"):
            out.append(
                f"| {k.upper()} | {_mib(b[k])} | {_mib(a[k])} | {_mib(a[k] - b[k])} | {per[k] / 1024:,.1f} KiB |"
            )
        out.append(
            f"| CPU while idle (share of one core) | {idle['cpu_idle_empty'] * 100:.2f} % | "
            f"{idle['cpu_idle_sockets'] * 100:.2f} % | — | — |"
        )
        cl = idle["connect_latency"]
        sl = idle["session_latency"]
        out += [
            "",
            f"Opened {idle['opened']:,} sockets ({idle['open_failures'] or 'no failure'}) in {idle['open_s']:.1f} s, "
            f"{args.connect_concurrency} at a time (connect + history + status: p50 {_ms(cl['p50'])}, p99 "
            f"{_ms(cl['p99'])}); sessions created at {idle['sessions_per_s']:,.0f}/s (p50 {_ms(sl['p50'])}). "
            f"Closed during the {idle['hold_s']:.0f} s hold: **{idle['closed_during_hold']}** "
            f"{idle['close_codes'] or ''}; answered a frame after the hold: **{idle['answered_after_hold']:,}** "
            f"(all within {idle['answer_all_s']:.1f} s). Highest RSS during the hold "
            f"{_mib(idle['rss_max_during_hold'])}; after closing them all "
            f"{_mib(idle.get('after_close', {}).get('rss'))}.",
        ]
    text = "\n".join(out)
    print(text, flush=True)
    path = args.json or BASE_DIR / "bench" / "results" / f"livechat-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    payload = {
        "command": command_line("livechat", argv),
        "machine": machine,
        "free_g": free,
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "results": r,
        "markdown": text,
    }
    write_json(path, payload, _log)


if __name__ == "__main__":
    sys.exit(main())
