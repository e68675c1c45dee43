"""`manage.py reembed`: re-embed labels and knowledge chunks after an embedding model change."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from apps.ai.providers import embeddings_model_name
from apps.core.progress import ProgressBar
from apps.knowledge.services import chunks_reembed
from apps.labels.services import labels_reembed


class Command(BaseCommand):
    help = "Re-embed labels and chunks whose vectors were made by another model (or all with --all)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--all", action="store_true", help="Re-embed everything, not only stale vectors.")

    def handle(self, *args: Any, **options: Any) -> None:
        model = embeddings_model_name()
        self.stdout.write(f"Embedding model: {model}")
        for name, fn in (("labels", labels_reembed), ("chunks", chunks_reembed)):
            bar: ProgressBar | None = None

            def progress(done: int, total: int, name: str = name) -> None:
                nonlocal bar
                if bar is None:
                    bar = ProgressBar(total, label=name)
                bar.update(done)

            count = fn(only_stale=not options["all"], on_progress=progress)
            if bar is not None:
                bar.close()
            self.stdout.write(f"{name}: {count} re-embedded.")
