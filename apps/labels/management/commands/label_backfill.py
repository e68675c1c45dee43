"""(Re)label many conversations, with a progress bar.

manage.py label_backfill                     # closed conversations without labels, through the workers
manage.py label_backfill --all               # every closed conversation (replaces labels)
manage.py label_backfill --inline --limit 500   # in this process, no worker needed
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db.models import QuerySet

from apps.conversations.models import Conversation
from apps.core.progress import ProgressBar
from apps.labels.models import LabelingJob
from apps.labels.services import MessagesUnavailable, labeling_enqueue, labeling_job_run

_FINAL = (LabelingJob.Status.DONE, LabelingJob.Status.DUPLICATE, LabelingJob.Status.FAILED)


class Command(BaseCommand):
    help = "Queue (or run) labeling for many closed conversations and show progress."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--all", action="store_true", help="Relabel every closed conversation, not only unlabeled ones."
        )
        parser.add_argument("--channel", help="Only this channel (widget, crisp, whatsapp, ...).")
        parser.add_argument("--limit", type=int, default=0, help="At most this many conversations.")
        parser.add_argument(
            "--inline", action="store_true", help="Label in this process instead of the Celery workers."
        )
        parser.add_argument("--no-wait", action="store_true", help="Queue and exit without waiting for the workers.")
        parser.add_argument("--timeout", type=float, default=3600, help="Seconds to wait for the workers.")

    def _conversations(self, options: dict[str, Any]) -> QuerySet[Conversation]:
        qs = Conversation.objects.filter(status=Conversation.Status.CLOSED).order_by("pk")
        if not options["all"]:
            qs = qs.filter(conversation_labels__isnull=True)
        if options["channel"]:
            qs = qs.filter(channel=options["channel"])
        return qs.distinct()

    def handle(self, *args: Any, **options: Any) -> None:
        ids = list(self._conversations(options).values_list("pk", flat=True))
        if options["limit"]:
            ids = ids[: options["limit"]]
        if not ids:
            self.stdout.write("Nothing to label.")
            return
        bar = ProgressBar(len(ids), label="labeling")
        started = time.monotonic()
        outcomes: Counter[str] = Counter()
        if options["inline"]:
            for n, conversation in enumerate(Conversation.objects.filter(pk__in=ids).order_by("pk").iterator(), 1):
                job = LabelingJob.objects.create(conversation=conversation, source=LabelingJob.Source.BACKFILL)
                try:
                    outcomes[labeling_job_run(job.pk)] += 1
                except MessagesUnavailable:
                    outcomes["failed"] += 1
                bar.update(n)
        else:
            job_ids = [
                labeling_enqueue(conversation=c, source=LabelingJob.Source.BACKFILL).pk
                for c in Conversation.objects.filter(pk__in=ids).order_by("pk").iterator()
            ]
            if options["no_wait"]:
                self.stdout.write(f"Queued {len(job_ids)} labeling job(s); follow them in the admin or Flower.")
                return
            deadline = time.monotonic() + options["timeout"]
            while True:
                counts = Counter(LabelingJob.objects.filter(pk__in=job_ids).values_list("status", flat=True))
                finished = sum(counts[s] for s in _FINAL)
                bar.update(finished, f"failed {counts[LabelingJob.Status.FAILED]}")
                if finished >= len(job_ids):
                    outcomes = Counter({str(k): v for k, v in counts.items()})
                    break
                if time.monotonic() > deadline:
                    bar.close()
                    raise CommandError(
                        f"Timed out with {len(job_ids) - finished} job(s) still queued or running. Are the workers up?"
                    )
                time.sleep(0.5)
        bar.close()
        elapsed = time.monotonic() - started
        summary = ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items()))
        self.stdout.write(f"Labeled {len(ids)} conversation(s) in {elapsed:.1f} s ({summary}).")
        if outcomes.get("failed"):
            raise CommandError(f"{outcomes['failed']} conversation(s) failed; see Labeling jobs in the admin.")
