from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _roles_after_migrate(sender: AppConfig, **kwargs: Any) -> None:
    from apps.core.services import roles_ensure

    roles_ensure()


class CoreConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        # Permissions only exist after post_migrate; the groups are refreshed right after them.
        post_migrate.connect(_roles_after_migrate, dispatch_uid="supportdesk_roles")
