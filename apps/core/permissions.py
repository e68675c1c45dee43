"""Who may do what: agents and supervisors (SPEC §12)."""

from typing import Any

from rest_framework.permissions import BasePermission

from apps.core.services import AGENT_GROUP, SUPERVISOR_GROUP


def is_agent(user: Any) -> bool:
    """Agents and supervisors (and superusers) may work in the console."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return user.groups.filter(name__in=(AGENT_GROUP, SUPERVISOR_GROUP)).exists()


def is_supervisor(user: Any) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return bool(user.is_superuser or user.groups.filter(name=SUPERVISOR_GROUP).exists())


class IsAgent(BasePermission):
    message = "Only agents and supervisors may use this API."

    def has_permission(self, request: Any, view: Any) -> bool:
        return is_agent(request.user)


class IsSupervisor(BasePermission):
    message = "Only supervisors may use this API."

    def has_permission(self, request: Any, view: Any) -> bool:
        return is_supervisor(request.user)
