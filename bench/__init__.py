"""SupportDesk benchmarks: `python -m bench` runs every module of this package, `python -m bench NAME` one of them.

Each benchmark module exposes ``main(argv: list[str]) -> int`` and a one-line ``__doc__``; it measures a raw
baseline in the same run and prints its figures as a Markdown table together with the exact command.
See docs/benchmarks.md.
"""
