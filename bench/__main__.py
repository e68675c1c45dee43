"""Run the benchmarks: `python -m bench` (all of them) or `python -m bench NAME [options]` (one, e.g. `startup`)."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Callable
from typing import cast

import bench


def discover() -> list[str]:
    """Names of the benchmark modules of the package (every module not starting with an underscore)."""
    return sorted(
        info.name for info in pkgutil.iter_modules(bench.__path__) if not info.ispkg and not info.name.startswith("_")
    )


def _usage(names: list[str]) -> str:
    lines = ["usage: python -m bench [NAME [options]]", "", "benchmarks:"]
    for name in names:
        doc = (importlib.import_module(f"bench.{name}").__doc__ or "").strip().splitlines()
        lines.append(f"  {name:<12} {doc[0] if doc else ''}")
    lines.append("")
    lines.append("Without NAME every benchmark runs with its default options. `python -m bench NAME -h` lists options.")
    return "\n".join(lines)


def _run(name: str, argv: list[str]) -> int:
    module = importlib.import_module(f"bench.{name}")
    entry = cast(Callable[[list[str]], int], module.main)
    return int(entry(argv) or 0)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    names = discover()
    if args and args[0] in ("-h", "--help"):
        print(_usage(names))
        return 0
    if args and not args[0].startswith("-"):
        name, rest = args[0], args[1:]
        if name not in names:
            print(f"Unknown benchmark {name!r}.\n\n{_usage(names)}", file=sys.stderr)
            return 2
        return _run(name, rest)
    if args:
        print(f"Options go after a benchmark name.\n\n{_usage(names)}", file=sys.stderr)
        return 2
    status = 0
    for name in names:
        print(f"\n## bench.{name}\n", flush=True)
        status = max(status, _run(name, []))
    return status


if __name__ == "__main__":
    sys.exit(main())
