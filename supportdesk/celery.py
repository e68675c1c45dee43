"""The Celery application: queues `default`, `conversations` (labeling) and `copilot` (suggestions and analytics, its
own thread-pool worker), configured from Django settings."""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "supportdesk.settings.dev")

app = Celery("supportdesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (
    Queue("default", routing_key="default"),
    Queue("conversations", routing_key="conversations"),
    Queue("copilot", routing_key="copilot"),
)
app.conf.task_routes = {
    "apps.labels.tasks.*": {"queue": "conversations", "routing_key": "conversations"},
    "apps.copilot.tasks.*": {"queue": "copilot", "routing_key": "copilot"},
}
app.autodiscover_tasks()
