"""The Celery application: queues `default` and `conversations`, configured from Django settings."""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "supportdesk.settings.dev")

app = Celery("supportdesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("default", routing_key="default"), Queue("conversations", routing_key="conversations"))
app.conf.task_routes = {"apps.labels.tasks.*": {"queue": "conversations", "routing_key": "conversations"}}
app.autodiscover_tasks()
