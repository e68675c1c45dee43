"""Label reads: a conversation's labels and the statistics (from the rollup, never a full GROUP BY)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.labels.models import CANONICAL_SQL, ConversationLabel, LabelMonthlyCount


@dataclass(frozen=True)
class ConversationLabelRow:
    label: str
    canonical: str
    status: str


def labels_for_conversation(conversation_id: int) -> list[ConversationLabelRow]:
    rows = (
        ConversationLabel.objects.filter(conversation_id=conversation_id)
        .select_related("label", "label__alias_of")
        .order_by("created_at", "id")
    )
    out = []
    for row in rows:
        label = row.label
        target = label.alias_of if label.status == "approved" and label.alias_of is not None else label
        out.append(ConversationLabelRow(label=label.name, canonical=target.name, status=label.status))
    return out


def labels_for_conversations(conversation_ids: list[int]) -> dict[int, list[ConversationLabelRow]]:
    """labels_for_conversation for many conversations in one query (the console's inbox rows)."""
    rows = (
        ConversationLabel.objects.filter(conversation_id__in=conversation_ids)
        .select_related("label", "label__alias_of")
        .order_by("created_at", "id")
    )
    out: dict[int, list[ConversationLabelRow]] = {cid: [] for cid in conversation_ids}
    for row in rows:
        label = row.label
        target = label.alias_of if label.status == "approved" and label.alias_of is not None else label
        out[row.conversation_id].append(
            ConversationLabelRow(label=label.name, canonical=target.name, status=label.status)
        )
    return out


def conversation_ids_with_label(name: str) -> QuerySet[ConversationLabel, int]:
    """Ids of the conversations labeled ``name`` or with an approved alias of it (a subquery for filters)."""
    return ConversationLabel.objects.filter(
        Q(label__name=name) | Q(label__alias_of__name=name, label__status="approved")
    ).values_list("conversation_id", flat=True)


def _names(ids: list[int]) -> dict[int, str]:
    from apps.labels.models import Label

    return dict(Label.objects.filter(pk__in=ids).values_list("pk", "name"))


def label_top_for_month(month: date, limit: int = 10) -> list[tuple[str, int]]:
    """Top labels of a month, counts following merges and approved aliases. Reads the rollup, which is keyed
    by canonical label: a scan of its (month, -count) index."""
    table = LabelMonthlyCount._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT l.name, c.count FROM {table} c JOIN labels_label l ON l.id = c.label_id "  # noqa: S608
            "WHERE c.month = %s AND c.count > 0 ORDER BY c.count DESC, c.label_id LIMIT %s",
            [month.replace(day=1), limit],
        )
        return [(name, int(n)) for name, n in cursor.fetchall()]


def label_top_for_month_raw(month: date, limit: int = 10) -> list[tuple[str, int]]:
    """The same answer computed from raw conversation labels (the benchmark's baseline and a consistency check)."""
    first = month.replace(day=1)
    following = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    # Months in TIME_ZONE, as the rollup counts them (label_rollup_rebuild, month_start).
    start = timezone.make_aware(datetime.combine(first, datetime.min.time()))
    end = timezone.make_aware(datetime.combine(following, datetime.min.time()))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {CANONICAL_SQL} AS cid, COUNT(*) AS n FROM labels_conversationlabel cl "  # noqa: S608
            "JOIN labels_label l ON l.id = cl.label_id "
            "JOIN conversations_conversation c ON c.id = cl.conversation_id "
            "WHERE c.created_at >= %s AND c.created_at < %s "
            "GROUP BY cid ORDER BY n DESC, cid LIMIT %s",
            [start, end, limit],
        )
        rows = cursor.fetchall()
    names = _names([r[0] for r in rows])
    return [(names[cid], int(n)) for cid, n in rows]


def months_back(today: date, months: int) -> list[date]:
    first = today.replace(day=1)
    out = []
    year, month = first.year, first.month
    for _ in range(months):
        out.append(date(year, month, 1))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return list(reversed(out))


def label_trends(today: date, months: int = 6, limit: int = 10) -> list[tuple[date, str, int]]:
    """Monthly counts over the last ``months`` months for the ``limit`` labels most used over the period
    (canonical labels; months without use are 0)."""
    span = months_back(today, months)
    table = LabelMonthlyCount._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {CANONICAL_SQL} AS cid, c.month, SUM(c.count) FROM {table} c "  # noqa: S608
            "JOIN labels_label l ON l.id = c.label_id WHERE c.month >= %s AND c.month <= %s GROUP BY cid, c.month",
            [span[0], span[-1]],
        )
        rows = cursor.fetchall()
    per_label: dict[int, dict[date, int]] = {}
    for cid, month, n in rows:
        per_label.setdefault(cid, {})[month] = int(n)
    ranked = sorted(per_label, key=lambda cid: (-sum(per_label[cid].values()), cid))
    top = [cid for cid in ranked if sum(per_label[cid].values()) > 0][:limit]
    names = _names(top)
    return [(m, names[cid], per_label[cid].get(m, 0)) for cid in top for m in span]
