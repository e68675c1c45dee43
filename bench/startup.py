"""Cold/warm start, idle memory and shutdown of `manage.py runstack`, against bare PostgreSQL + Redis.

Run: `cd /work/main && .venv/bin/python -m bench startup` (options: `-h`). Everything happens in a fresh temporary
data dir under /tmp (removed at the end) with free ports picked at run time; every process started is stopped on
success, on error and on Ctrl-C. The figures are printed as Markdown tables on stdout.

Measured:
- cold start: first `manage.py runstack` on an empty data dir (initdb + migrations + demo data), spawn -> "ready" line;
- warm start: the same command again on the same data dir (N times, median);
- idle memory: RSS / PSS / USS of the whole stack (runstack tree + embedded PostgreSQL + Redis) after ready + idle s;
- shutdown: SIGINT -> runstack exit, then a check that no PostgreSQL/Redis process is left for the data dir;
- raw baseline, same run, same data dir: a bare Python process that only calls `embedded.postgres_ensure` and
  `embedded.redis_ensure` (spawn -> both answer), the memory of those bare servers after the same idle time, and
  `embedded.stop_all`.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import queue
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import psutil

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

from apps.core import embedded  # noqa: E402  (this module does not import Django)

READY_MARK = "SupportDesk is ready in"
FORBIDDEN_PORTS = frozenset({8000, 5555})  # the defaults of `make run`: a developer's own stack may use them
KINDS = ("runstack", "daphne", "celery worker", "celery beat", "flower", "other", "postgres", "redis")
MIB = 1024 * 1024


class BenchError(RuntimeError):
    """The benchmark could not measure something; the message says what and where the logs are."""


# --------------------------------------------------------------------------- helpers


def _mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value / MIB:,.1f}"


def _secs(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def _ratio(ours: float | None, raw: float | None) -> str:
    return "n/a" if not ours or not raw else f"{ours / raw:,.1f}x"


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def _pick_ports(count: int, taken: set[int]) -> list[int]:
    """Free loopback ports chosen by the kernel now, never the `make run` defaults nor one already used here."""
    ports: list[int] = []
    for _ in range(1000):
        port = embedded.free_port()
        if port not in FORBIDDEN_PORTS and port not in taken and port not in ports:
            ports.append(port)
            if len(ports) == count:
                taken.update(ports)
                return ports
    raise BenchError("could not find free ports")


def child_env(data_dir: Path) -> dict[str, str]:
    """Environment of the processes we start: embedded services of OUR data dir, offline AI, dev settings."""
    env = dict(os.environ)
    for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "PORT", "FLOWER_PORT"):
        env.pop(name, None)
    if (BASE_DIR / ".env").exists():
        # django-environ's read_env only fills variables that are missing: an empty value keeps a .env from
        # pointing the benchmark at an external server (empty == unset for the settings).
        env.update(DATABASE_URL="", REDIS_URL="")
    env.update(
        SUPPORTDESK_DATA_DIR=str(data_dir),
        LLM_PROVIDER="local",
        DJANGO_SETTINGS_MODULE="supportdesk.settings.dev",
        PYTHONUNBUFFERED="1",
    )
    return env


# --------------------------------------------------------------------------- memory


@dataclass
class ProcMem:
    kind: str
    pid: int
    name: str
    rss: int
    pss: int | None
    uss: int | None


@dataclass
class KindTotal:
    kind: str
    count: int = 0
    rss: int = 0
    pss: int | None = 0
    uss: int | None = 0


@dataclass
class MemoryReport:
    processes: list[ProcMem]

    def totals(self) -> dict[str, KindTotal]:
        out: dict[str, KindTotal] = {}
        for p in self.processes:
            t = out.setdefault(p.kind, KindTotal(p.kind))
            t.count += 1
            t.rss += p.rss
            t.pss = None if t.pss is None or p.pss is None else t.pss + p.pss
            t.uss = None if t.uss is None or p.uss is None else t.uss + p.uss
        return {k: out[k] for k in [*KINDS, *sorted(set(out) - set(KINDS))] if k in out}

    def total(self, attr: str) -> int | None:
        values = [getattr(p, attr) for p in self.processes]
        return None if not values or any(v is None for v in values) else sum(values)


def _measure(kind: str, proc: psutil.Process) -> ProcMem | None:
    try:
        name = proc.name()
        try:
            full = proc.memory_full_info()  # USS/PSS: reads /proc/PID/smaps, needs the right to read it
            return ProcMem(kind, proc.pid, name, full.rss, getattr(full, "pss", None), full.uss)
        except (psutil.AccessDenied, AttributeError):
            return ProcMem(kind, proc.pid, name, proc.memory_info().rss, None, None)
    except psutil.Error:
        return None  # exited meanwhile


def server_processes(data_dir: Path) -> list[tuple[str, psutil.Process]]:
    """The embedded PostgreSQL (postmaster, found by its data dir, and all its children) and Redis of ``data_dir``."""
    out: list[tuple[str, psutil.Process]] = []
    seen: set[int] = set()
    for proc in embedded.leftover_processes(data_dir):
        try:
            kind = "postgres" if proc.name() == "postgres" else "redis"
            family = [proc, *(proc.children(recursive=True) if kind == "postgres" else [])]
        except psutil.Error:
            continue
        for p in family:
            if p.pid not in seen:
                seen.add(p.pid)
                out.append((kind, p))
    return out


def classify(cmdline: list[str]) -> str:
    joined = " ".join(cmdline)
    if "daphne" in joined:
        return "daphne"
    if "celery" in joined:
        for word, kind in (("worker", "celery worker"), ("beat", "celery beat"), ("flower", "flower")):
            if word in cmdline:
                return kind
    return "other"


def stack_processes(root: psutil.Process, data_dir: Path) -> list[tuple[str, psutil.Process]]:
    """runstack, each of its children with all their descendants (prefork pool included), PostgreSQL, Redis."""
    servers = server_processes(data_dir)
    server_pids = {p.pid for _, p in servers}
    out: list[tuple[str, psutil.Process]] = [("runstack", root)]
    for child in root.children():
        try:
            kind = classify(child.cmdline())
            family = [child, *child.children(recursive=True)]
        except psutil.Error:
            continue
        out.extend((kind, p) for p in family if p.pid not in server_pids)
    return out + servers


def measure(pairs: list[tuple[str, psutil.Process]]) -> MemoryReport:
    return MemoryReport([m for kind, p in pairs if (m := _measure(kind, p)) is not None])


# --------------------------------------------------------------------------- process bookkeeping


@dataclass
class Tracker:
    """Everything this benchmark started, so that it can all be stopped whatever happens."""

    tmp: Path
    data_dir: Path
    ports: set[int] = field(default_factory=set)
    procs: dict[int, psutil.Process] = field(default_factory=dict)

    def remember(self, procs: list[psutil.Process]) -> None:
        for p in procs:
            self.procs.setdefault(p.pid, p)

    def _ours(self, proc: psutil.Process) -> bool:
        """Started by this benchmark: a remembered process, or one whose command line / cwd / environment names our
        temporary dir, or daphne/Flower listening on one of our ports. Nothing else is ever signalled."""
        remembered = self.procs.get(proc.pid)
        if remembered is not None and remembered.is_running():  # is_running() also compares the creation time
            return True
        try:
            cmdline = proc.cmdline()
            if any(str(self.tmp) in arg for arg in cmdline):
                return True
            for i, arg in enumerate(cmdline):
                if arg in {f"--port={p}" for p in self.ports}:
                    return True
                port_arg = arg == "-p" and i + 1 < len(cmdline) and cmdline[i + 1] in {str(p) for p in self.ports}
                if port_arg and "daphne" in " ".join(cmdline):
                    return True
            with contextlib.suppress(psutil.Error, OSError):
                if Path(proc.cwd()).is_relative_to(self.tmp):
                    return True
            with contextlib.suppress(psutil.Error):
                if proc.environ().get("SUPPORTDESK_DATA_DIR") == str(self.data_dir):
                    return True
        except psutil.Error:
            return False
        return False

    def ours_alive(self) -> list[psutil.Process]:
        me = os.getpid()
        found = []
        for proc in psutil.process_iter():
            if proc.pid == me:
                continue
            try:
                if proc.status() != psutil.STATUS_ZOMBIE and self._ours(proc):
                    found.append(proc)
            except psutil.Error:
                continue
        return found

    def sweep(self) -> list[str]:
        """Stop the embedded servers of our data dir, then kill whatever of ours is still alive."""
        killed: list[str] = []
        if embedded.leftover_processes(self.data_dir):
            with contextlib.suppress(Exception):
                embedded.stop_all(self.data_dir)
        for _ in range(3):
            alive = self.ours_alive() + [p for _, p in server_processes(self.data_dir)]
            if not alive:
                break
            for proc in alive:
                with contextlib.suppress(psutil.Error):
                    killed.append(f"{proc.pid} {' '.join(proc.cmdline())[:100]}")
                    proc.kill()
            psutil.wait_procs(alive, timeout=5)
        return killed


class LineReader:
    """Reads a child's output in a thread: every line goes to a log file (with its time) and to a queue."""

    def __init__(self, stream: IO[bytes], log: Path, t0: float) -> None:
        self.lines: queue.Queue[tuple[float, str] | None] = queue.Queue()
        self._stream, self._log, self._t0 = stream, log, t0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with self._log.open("a", encoding="utf-8") as out:
            for raw in iter(self._stream.readline, b""):
                now = time.monotonic()
                line = raw.decode("utf-8", "replace").rstrip()
                out.write(f"{now - self._t0:8.2f} {line}\n")
                out.flush()
                self.lines.put((now, line))
        self.lines.put(None)

    def wait_for(self, predicate: Any, proc: subprocess.Popen[bytes], deadline: float, what: str) -> tuple[float, str]:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BenchError(f"timed out waiting for {what}; log: {self._log}\n{_tail(self._log)}")
            try:
                item = self.lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            if item is None:
                proc.wait(5)
                raise BenchError(
                    f"the process exited (code {proc.returncode}) before {what}; log: {self._log}\n{_tail(self._log)}"
                )
            if predicate(item[1]):
                return item


# --------------------------------------------------------------------------- one `manage.py runstack`


@dataclass
class StackResult:
    label: str
    start_s: float
    self_reported_s: float | None
    shutdown_s: float | None = None
    leftovers: list[str] = field(default_factory=list)
    stray: list[str] = field(default_factory=list)
    memory: MemoryReport | None = None
    concurrency: int | None = None


class StackRun:
    def __init__(self, label: str, tracker: Tracker, logs: Path, args: argparse.Namespace) -> None:
        self.label, self.tracker, self.args = label, tracker, args
        self.log = logs / f"{label}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.root: psutil.Process | None = None
        self.reader: LineReader | None = None
        self.last_tree: list[psutil.Process] = []

    def command(self, port: int, flower_port: int) -> list[str]:
        cmd = [sys.executable, "manage.py", "runstack", "--port", str(port), "--flower-port", str(flower_port)]
        if self.args.concurrency:
            cmd += ["--concurrency", str(self.args.concurrency)]
        return cmd

    def start(self) -> StackResult:
        port, flower_port = _pick_ports(2, self.tracker.ports)
        cmd = self.command(port, flower_port)
        self.log.write_text(f"$ {shlex.join(cmd)}\n")
        t0 = time.monotonic()
        # Own session and process group: SIGINT to that group is exactly what Ctrl-C in a terminal does to `make run`.
        self.proc = subprocess.Popen(
            cmd,
            cwd=BASE_DIR,
            env=child_env(self.tracker.data_dir),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.root = psutil.Process(self.proc.pid)
        self.tracker.remember([self.root])
        assert self.proc.stdout is not None
        self.reader = LineReader(self.proc.stdout, self.log, t0)
        ready_at, line = self.reader.wait_for(
            lambda s: READY_MARK in s, self.proc, t0 + self.args.timeout, f"{READY_MARK!r} ({self.label})"
        )
        self.snapshot()
        match = re.search(r"ready in ([0-9.]+) s", line)
        return StackResult(self.label, ready_at - t0, float(match.group(1)) if match else None)

    def snapshot(self) -> list[psutil.Process]:
        """Remember the current process tree (children run in their own sessions: a group kill would miss them)."""
        assert self.root is not None
        with contextlib.suppress(psutil.Error):
            tree = [self.root, *self.root.children(recursive=True)]
            self.tracker.remember(tree)
            self.last_tree = tree
            return tree
        return []

    def memory(self) -> MemoryReport:
        assert self.root is not None
        self.snapshot()
        return measure(stack_processes(self.root, self.tracker.data_dir))

    def concurrency(self) -> int | None:
        for p in self.snapshot():
            with contextlib.suppress(psutil.Error, ValueError, IndexError):
                cmd = p.cmdline()
                if classify(cmd) == "celery worker" and "-c" in cmd:
                    return int(cmd[cmd.index("-c") + 1])
        return None

    def stray(self) -> list[str]:
        """Processes of the stack (as last seen before the shutdown) still alive after runstack has exited."""
        out = []
        for p in self.last_tree:
            with contextlib.suppress(psutil.Error):
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    out.append(f"{p.pid} {' '.join(p.cmdline())[:80]}")
        return out

    def stop(self) -> float:
        """SIGINT to runstack's process group (= Ctrl-C); return the seconds until runstack has exited."""
        assert self.proc is not None
        self.snapshot()
        t0 = time.monotonic()
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(self.args.timeout)
        except subprocess.TimeoutExpired as exc:
            raise BenchError(
                f"runstack did not exit within {self.args.timeout:.0f} s of SIGINT; log: {self.log}"
            ) from exc
        elapsed = time.monotonic() - t0
        if self.reader:
            self.reader.thread.join(5)
        return elapsed

    def kill(self) -> None:
        """Error path: Ctrl-C the stack, give it a bounded time, then kill its whole tree."""
        if self.proc is None or self.proc.poll() is not None:
            return
        tree = self.snapshot()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(min(60.0, self.args.timeout))
        except subprocess.TimeoutExpired:
            for p in tree:
                with contextlib.suppress(psutil.Error):
                    p.kill()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)


# --------------------------------------------------------------------------- raw baseline

_RAW_HELPER = r"""
import json, sys, time
t0 = time.monotonic()
from pathlib import Path
from apps.core import embedded
data_dir = Path(sys.argv[1])
t1 = time.monotonic()
embedded.postgres_ensure(data_dir)
t2 = time.monotonic()
embedded.redis_ensure(data_dir)
t3 = time.monotonic()
print("RAW-READY " + json.dumps({"import_s": t1 - t0, "postgres_s": t2 - t1, "redis_s": t3 - t2}), flush=True)
sys.stdin.readline()
t4 = time.monotonic()
embedded.stop_all(data_dir)
print("RAW-STOPPED " + json.dumps({"stop_s": time.monotonic() - t4}), flush=True)
"""


@dataclass
class RawResult:
    start_s: float
    postgres_s: float
    redis_s: float
    stop_s: float | None = None
    leftovers: list[str] = field(default_factory=list)
    memory: MemoryReport | None = None


class RawRun:
    """Bare servers: a Python process that only starts the embedded PostgreSQL and Redis of the data dir."""

    def __init__(self, label: str, tracker: Tracker, logs: Path, args: argparse.Namespace) -> None:
        self.label, self.tracker, self.args = label, tracker, args
        self.log = logs / f"{label}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.reader: LineReader | None = None

    def start(self) -> RawResult:
        self.log.write_text("$ python -c <raw helper>\n")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _RAW_HELPER, str(self.tracker.data_dir)],
            cwd=BASE_DIR,
            env=child_env(self.tracker.data_dir),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.tracker.remember([psutil.Process(self.proc.pid)])
        assert self.proc.stdout is not None
        self.reader = LineReader(self.proc.stdout, self.log, t0)
        ready_at, line = self.reader.wait_for(
            lambda s: s.startswith("RAW-READY "), self.proc, t0 + self.args.timeout, f"bare servers ({self.label})"
        )
        info = json.loads(line.split(" ", 1)[1])
        return RawResult(ready_at - t0, info["postgres_s"], info["redis_s"])

    def memory(self) -> MemoryReport:
        return measure(server_processes(self.tracker.data_dir))

    def stop(self) -> float:
        assert self.proc is not None and self.proc.stdin is not None and self.reader is not None
        t0 = time.monotonic()
        self.proc.stdin.write(b"stop\n")
        self.proc.stdin.flush()
        self.reader.wait_for(
            lambda s: s.startswith("RAW-STOPPED "), self.proc, t0 + self.args.timeout, f"stop_all ({self.label})"
        )
        self.proc.wait(self.args.timeout)
        return time.monotonic() - t0

    def kill(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(OSError, ValueError):
            assert self.proc.stdin is not None
            self.proc.stdin.write(b"stop\n")
            self.proc.stdin.flush()
        try:
            self.proc.wait(min(60.0, self.args.timeout))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)


# --------------------------------------------------------------------------- the benchmark


def _leftover_names(data_dir: Path) -> list[str]:
    out = []
    for p in embedded.leftover_processes(data_dir):
        with contextlib.suppress(psutil.Error):
            out.append(f"{p.name()}[{p.pid}]")
    return out


def _machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    vm = psutil.virtual_memory()
    try:
        nproc = len(os.sched_getaffinity(0))
    except AttributeError:
        nproc = os.cpu_count() or 0
    return {
        "date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "nproc": str(nproc),
        "memory": f"{vm.total / 1024**3:.0f} GiB total, {vm.available / 1024**3:.0f} GiB available",
        "cpu": cpu,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def _command(argv: list[str]) -> str:
    python = sys.executable
    with contextlib.suppress(ValueError):
        if Path(python).is_relative_to(BASE_DIR):
            python = str(Path(python).relative_to(BASE_DIR))
    return f"cd {shlex.quote(str(BASE_DIR))} && {shlex.join([python, '-m', 'bench', 'startup', *argv])}"


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench startup", description=__doc__.splitlines()[0])
    parser.add_argument("--warm-runs", type=int, default=3, help="warm starts to run (median reported; default 3)")
    parser.add_argument("--raw-runs", type=int, default=3, help="bare-server starts to run (default 3)")
    parser.add_argument("--idle", type=float, default=10.0, help="idle seconds after ready before measuring memory")
    parser.add_argument("--timeout", type=float, default=180.0, help="bound of every wait, in seconds (default 180)")
    parser.add_argument("--concurrency", type=int, default=None, help="passed to runstack (default: its own)")
    parser.add_argument(
        "--json", type=Path, default=None, help="write the results there (default bench/results/startup-DATE.json)"
    )
    args = parser.parse_args(argv)
    if args.warm_runs < 1 or args.raw_runs < 1:
        parser.error("--warm-runs and --raw-runs must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="sdbench-", dir="/tmp")).resolve()
    data_dir = tmp / "data"
    logs = tmp / "logs"
    logs.mkdir()
    tracker = Tracker(tmp=tmp, data_dir=data_dir)
    stacks: list[StackResult] = []
    raws: list[RawResult] = []
    live: list[StackRun | RawRun] = []
    status = 0
    print(f"bench.startup: data dir {data_dir}; logs in {logs} (removed at the end)", file=sys.stderr, flush=True)
    try:
        with _sigterm_as_interrupt():
            for i in range(args.warm_runs + 1):
                label = "cold" if i == 0 else f"warm-{i}"
                if leftovers := _leftover_names(data_dir):
                    raise BenchError(f"servers still running before {label}: {leftovers}")
                run = StackRun(label, tracker, logs, args)
                live.append(run)
                print(f"bench.startup: {label} start…", file=sys.stderr, flush=True)
                result = run.start()
                result.concurrency = run.concurrency()
                if i > 0:
                    time.sleep(args.idle)
                    result.memory = run.memory()
                result.shutdown_s = run.stop()
                result.leftovers = _leftover_names(data_dir)
                result.stray = run.stray()
                stacks.append(result)
                print(
                    f"bench.startup: {label}: ready in {result.start_s:.2f} s, shutdown {result.shutdown_s:.2f} s, "
                    f"leftovers {result.leftovers or 'none'}",
                    file=sys.stderr,
                    flush=True,
                )
                if result.leftovers or result.stray:
                    status = 1
                    tracker.sweep()
            for i in range(args.raw_runs):
                raw = RawRun(f"raw-{i + 1}", tracker, logs, args)
                live.append(raw)
                print(f"bench.startup: raw-{i + 1} start…", file=sys.stderr, flush=True)
                rresult = raw.start()
                if i == args.raw_runs - 1:
                    time.sleep(args.idle)
                    rresult.memory = raw.memory()
                rresult.stop_s = raw.stop()
                rresult.leftovers = _leftover_names(data_dir)
                raws.append(rresult)
                if rresult.leftovers:
                    status = 1
                    tracker.sweep()
    except KeyboardInterrupt:
        print("\nbench.startup: interrupted; stopping everything it started…", file=sys.stderr, flush=True)
        status = 130
    except BenchError as exc:
        print(f"bench.startup: FAILED: {exc}", file=sys.stderr, flush=True)
        status = 1
    finally:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not abort the cleanup
        try:
            for item in live:
                with contextlib.suppress(Exception):
                    item.kill()
            killed = tracker.sweep()
            if killed:
                print(f"bench.startup: killed left-over processes: {killed}", file=sys.stderr, flush=True)
            remaining = tracker.ours_alive()
            if remaining:
                print(f"bench.startup: WARNING, still alive: {[p.pid for p in remaining]}", file=sys.stderr)
                status = status or 1
            shutil.rmtree(tmp, ignore_errors=True)
        finally:
            signal.signal(signal.SIGINT, previous)
    if status in (0, 1) and stacks and raws and len(stacks) == args.warm_runs + 1 and len(raws) == args.raw_runs:
        report(stacks, raws, args, argv)
    return status


# --------------------------------------------------------------------------- report


def report(stacks: list[StackResult], raws: list[RawResult], args: argparse.Namespace, argv: list[str]) -> None:
    machine = _machine()
    cold, warms = stacks[0], stacks[1:]
    warm_start = _median([w.start_s for w in warms])
    shutdowns = [w.shutdown_s for w in warms if w.shutdown_s is not None]
    raw_start = _median([r.start_s for r in raws])
    raw_stop = _median([r.stop_s for r in raws if r.stop_s is not None])
    measured = [w for w in warms if w.memory is not None]
    by_total = sorted(measured, key=lambda w: w.memory.total("rss") or 0 if w.memory else 0)
    typical = by_total[len(by_total) // 2] if by_total else None
    raw_mem = raws[-1].memory

    def stack_mem(attr: str) -> float | None:
        return _median([t for w in measured if w.memory and (t := w.memory.total(attr)) is not None])

    left = sum(len(s.leftovers) for s in stacks)
    stray = sum(len(s.stray) for s in stacks)
    concurrency = next((s.concurrency for s in stacks if s.concurrency), None)

    out: list[str] = []
    out.append("### Startup benchmark (`bench/startup.py`)")
    out.append("")
    out.append(f"Command: `{_command(argv)}`")
    out.append("")
    out.append(
        f"Machine: {machine['nproc']} CPUs (`nproc`), {machine['memory']}, {machine['cpu']}, {machine['os']}, "
        f"Python {machine['python']}. Date: {machine['date']}. Celery worker concurrency: {concurrency or 'n/a'}; "
        f"idle before memory: {args.idle:g} s; warm runs: {len(warms)}; raw runs: {len(raws)}."
    )
    out.append("")
    out.append("| Measure | SupportDesk (`manage.py runstack`) | Raw baseline, same run | Ratio |")
    out.append("|---|---:|---:|---:|")
    out.append(
        f"| Cold start: empty data dir → ready (initdb, migrations, demo data) | {_secs(cold.start_s)} | — | — |"
    )
    warm_range = f" ({min(w.start_s for w in warms):.2f}-{max(w.start_s for w in warms):.2f})" if len(warms) > 1 else ""
    out.append(
        f"| Warm start → ready, median of {len(warms)}{warm_range} | {_secs(warm_start)} | "
        f"{_secs(raw_start)} (bare PostgreSQL + Redis up, median of {len(raws)}) | {_ratio(warm_start, raw_start)} |"
    )
    for attr, label in (("rss", "RSS"), ("pss", "PSS"), ("uss", "USS")):
        ours = stack_mem(attr)
        raw = raw_mem.total(attr) if raw_mem else None
        out.append(
            f"| Idle memory after ready + {args.idle:g} s, sum of {label} (MiB) | {_mib(ours)} | {_mib(raw)} "
            f"(bare PostgreSQL + Redis) | {_ratio(ours, raw)} |"
        )
    out.append(
        f"| Shutdown: SIGINT → exit, median of {len(shutdowns)} warm runs (cold run: {_secs(cold.shutdown_s)}) | "
        f"{_secs(_median(shutdowns))} | {_secs(raw_stop)} (`embedded.stop_all`) | {_ratio(_median(shutdowns), raw_stop)} |"
    )
    out.append(
        f"| PostgreSQL/Redis processes left after shutdown ({len(stacks)} runs) | {left} | "
        f"{sum(len(r.leftovers) for r in raws)} | — |"
    )
    out.append(f"| Other stack processes left after shutdown | {stray} | — | — |")
    out.append("")
    out.append("Per run:")
    out.append("")
    out.append(
        '| Run | Spawn → ready | Self-reported "ready in" | Idle RSS (MiB) | Idle PSS (MiB) | Shutdown | Left over |'
    )
    out.append("|---|---:|---:|---:|---:|---:|---|")
    for s in stacks:
        rss = s.memory.total("rss") if s.memory else None
        pss = s.memory.total("pss") if s.memory else None
        self_rep = _secs(s.self_reported_s)
        out.append(
            f"| {s.label} | {_secs(s.start_s)} | {self_rep} | {_mib(rss) if s.memory else '—'} | "
            f"{_mib(pss) if s.memory else '—'} | {_secs(s.shutdown_s)} | {', '.join(s.leftovers + s.stray) or 'none'} |"
        )
    for i, r in enumerate(raws, 1):
        rss = r.memory.total("rss") if r.memory else None
        pss = r.memory.total("pss") if r.memory else None
        out.append(
            f"| raw-{i} (postgres_ensure {r.postgres_s:.2f} s + redis_ensure {r.redis_s:.2f} s) | {_secs(r.start_s)} | — | "
            f"{_mib(rss) if r.memory else '—'} | {_mib(pss) if r.memory else '—'} | {_secs(r.stop_s)} | "
            f"{', '.join(r.leftovers) or 'none'} |"
        )
    if typical and typical.memory:
        out.append("")
        out.append(
            f"Idle memory by process kind ({typical.label}, the run with the median RSS; PSS splits shared pages "
            f"between the processes that share them, USS counts only private pages):"
        )
        out.append("")
        out.append("| Process kind | Processes | RSS (MiB) | PSS (MiB) | USS (MiB) |")
        out.append("|---|---:|---:|---:|---:|")
        for t in typical.memory.totals().values():
            out.append(f"| {t.kind} | {t.count} | {_mib(t.rss)} | {_mib(t.pss)} | {_mib(t.uss)} |")
        m = typical.memory
        out.append(
            f"| **total** | {len(m.processes)} | {_mib(m.total('rss'))} | {_mib(m.total('pss'))} | {_mib(m.total('uss'))} |"
        )
        if raw_mem:
            for t in raw_mem.totals().values():
                out.append(
                    f"| bare {t.kind} (raw baseline) | {t.count} | {_mib(t.rss)} | {_mib(t.pss)} | {_mib(t.uss)} |"
                )
    text = "\n".join(out)
    print(text, flush=True)

    path = args.json or BASE_DIR / "bench" / "results" / f"startup-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(
                {
                    "command": _command(argv),
                    "machine": machine,
                    "stack_runs": [asdict(s) for s in stacks],
                    "raw_runs": [asdict(r) for r in raws],
                    "markdown": text,
                },
                indent=2,
            )
        )
        print(f"\n(results also written to {path})", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
