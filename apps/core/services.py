"""Roles: the `agent` and `supervisor` groups and their permissions (SPEC §12)."""

from django.contrib.auth.models import Group, Permission

AGENT_GROUP = "agent"
SUPERVISOR_GROUP = "supervisor"

# app_label -> actions agents get on every model of that app
_AGENT_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "conversations": ("view", "add", "change"),
    "tickets": ("view", "add", "change"),
    "labels": ("view",),
    "knowledge": ("view",),
    "copilot": ("view", "change"),
    "bot": ("view",),
}
_SUPERVISOR_APPS = (
    "bot",
    "conversations",
    "console",
    "labels",
    "tickets",
    "knowledge",
    "copilot",
    "ai",
    "integrations",
    "django_celery_beat",
)


def roles_ensure() -> tuple[Group, Group]:
    """Create or update both groups. Idempotent; run after every migrate."""
    agent, _ = Group.objects.get_or_create(name=AGENT_GROUP)
    supervisor, _ = Group.objects.get_or_create(name=SUPERVISOR_GROUP)

    agent_perms = [
        p
        for p in Permission.objects.filter(content_type__app_label__in=_AGENT_PERMISSIONS).select_related(
            "content_type"
        )
        if p.codename.split("_", 1)[0] in _AGENT_PERMISSIONS[p.content_type.app_label]
    ]
    agent.permissions.set(agent_perms)
    supervisor_perms = list(Permission.objects.filter(content_type__app_label__in=_SUPERVISOR_APPS))
    supervisor_perms += list(Permission.objects.filter(content_type__app_label="auth", codename__startswith="view_"))
    supervisor.permissions.set(supervisor_perms)
    return agent, supervisor
