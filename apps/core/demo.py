"""Demo data for `make run` (idempotent): accounts, knowledge documents and a few conversations."""

from __future__ import annotations

import json
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from apps.conversations.models import Channel, Contact, Conversation, Message
from apps.core.services import AGENT_GROUP, SUPERVISOR_GROUP, roles_ensure

DEMO_KNOWLEDGE_DIR = Path(settings.BASE_DIR) / "docs" / "knowledge"
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str | None  # None: the account existed before and its password was left as it is
    role: str


def _credentials_file() -> Path:
    return Path(settings.DATA_DIR) / "demo-credentials.json"


def _stored_passwords() -> dict[str, str]:
    try:
        data = json.loads(_credentials_file().read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def demo_users_ensure() -> list[DemoLogin]:
    """A supervisor and an agent. Passwords: DEMO_<ROLE>_PASSWORD, else generated once and kept (0600)."""
    roles_ensure()
    stored = _stored_passwords()
    User = get_user_model()
    logins: list[DemoLogin] = []
    for username, group, staff in (("supervisor", SUPERVISOR_GROUP, True), ("agent", AGENT_GROUP, False)):
        wanted = os.environ.get(f"DEMO_{username.upper()}_PASSWORD") or stored.get(username)
        user = User.objects.filter(username=username).first()
        if user is None:
            password = wanted or secrets.token_urlsafe(12)
            user = User.objects.create_user(
                username=username, password=password, email=f"{username}@example.com", is_staff=staff
            )
            stored[username] = password
        elif wanted and user.check_password(wanted):
            password = wanted
        else:
            password = None
        user.groups.add(Group.objects.get(name=group))
        logins.append(DemoLogin(username, password, group))
    path = _credentials_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stored, indent=2))
    path.chmod(0o600)
    return logins


def demo_knowledge_ensure() -> tuple[int, int]:
    """Index the demo knowledge base (docs/knowledge; its .ingestignore leaves out the README, eval set and
    tools). Returns (files, changed files). Unchanged files are skipped by content hash."""
    from apps.knowledge.services import knowledge_ingest_paths

    report = knowledge_ingest_paths([DEMO_KNOWLEDGE_DIR])
    for failed in (f for f in report.files if f.status == "failed"):
        logger.warning("demo knowledge: %s failed: %s", failed.path, failed.reason)
    return len(report.files), report.count("ingested")


_DEMO_CONVERSATIONS = [
    ("demo-1", "Camille Martin", "camille@example.com", Conversation.Status.OPEN,
     [("customer", "Bonjour, mon paiement par carte est refusé, je ne comprends pas pourquoi."),
      ("bot", "Un paiement refusé vient souvent d'un plafond atteint ou d'une validation 3-D Secure non terminée.")]),
    ("demo-2", "Alex Smith", "alex@example.com", Conversation.Status.ESCALATED,
     [("customer", "Hello, my new SIM card still has no network after three hours."),
      ("bot", "Please restart the phone and check that mobile data is enabled."),
      ("customer", "I did, still nothing. I want to talk to a human.")]),
    ("demo-3", "Inès Petit", "", Conversation.Status.CLOSED,
     [("customer", "Je voudrais retourner un produit reçu hier."),
      ("agent", "Vous avez 30 jours : l'étiquette de retour est dans votre espace client, rubrique Mes commandes."),
      ("customer", "Merci beaucoup !")]),
]  # fmt: skip


@transaction.atomic
def demo_conversations_ensure() -> int:
    created = 0
    now = timezone.now()
    for external_id, name, email, status, messages in _DEMO_CONVERSATIONS:
        if Conversation.objects.filter(channel=Channel.WIDGET, external_id=external_id).exists():
            continue
        contact = Contact.objects.create(name=name, email=email, channel=Channel.WIDGET)
        conv = Conversation.objects.create(
            contact=contact,
            channel=Channel.WIDGET,
            external_id=external_id,
            status=status,
            closed_at=now if status == Conversation.Status.CLOSED else None,
        )
        for i, (role, text) in enumerate(messages):
            msg = Message.objects.create(conversation=conv, role=role, text=text)
            Message.objects.filter(pk=msg.pk).update(created_at=now - timedelta(minutes=len(messages) - i))
        conv.last_message_at = now
        conv.save(update_fields=["last_message_at"])
        created += 1
    return created
