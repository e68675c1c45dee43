"""`manage.py ingest PATH [PATH ...]`: index files and folders into the knowledge base."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.core.progress import ProgressBar
from apps.knowledge.services import FileResult, _files, knowledge_ingest_paths


class Command(BaseCommand):
    help = "Ingest knowledge files (FAQ JSON, Markdown, PDF, HTML, text) and folders, with a per-file summary."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("paths", nargs="+", type=Path)
        parser.add_argument("--force", action="store_true", help="Re-index even unchanged files.")

    def handle(self, *args: Any, **options: Any) -> None:
        paths: list[Path] = options["paths"]
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise CommandError(f"Not found: {', '.join(missing)}")
        total = len(_files(paths))
        bar = ProgressBar(total, label="ingesting")
        done = 0

        def on_file(result: FileResult) -> None:
            nonlocal done
            done += 1
            bar.update(done, result.path[-40:])

        report = knowledge_ingest_paths(paths, force=options["force"], on_file=on_file)
        bar.close()
        for f in report.files:
            detail = f"{f.documents} document(s), {f.chunks} chunk(s)" if f.status != "failed" else f.reason
            style = (
                self.style.ERROR if f.status == "failed" else (self.style.SUCCESS if f.status == "ingested" else str)
            )
            self.stdout.write(style(f"{f.status:<9} {f.path}: {detail}"))
        self.stdout.write(
            f"{len(report.files)} file(s): {report.count('ingested')} ingested, {report.count('unchanged')} unchanged, "
            f"{report.count('failed')} failed."
        )
