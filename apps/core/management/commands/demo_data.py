from typing import Any

from django.core.management.base import BaseCommand

from apps.core.demo import demo_conversations_ensure, demo_knowledge_ensure, demo_users_ensure


class Command(BaseCommand):
    help = "Load the demo accounts, knowledge base and conversations (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        logins = demo_users_ensure()
        docs, changed = demo_knowledge_ensure()
        convs = demo_conversations_ensure()
        self.stdout.write(f"Demo data: {docs} knowledge files ({changed} (re)indexed), {convs} new conversations.")
        for login in logins:
            shown = login.password if login.password else "(unchanged; see .data/demo-credentials.json)"
            self.stdout.write(f"  {login.role:<10} login: {login.username} / {shown}")
