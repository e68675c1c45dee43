"""Integrations keep their state on the core models; webhook receipts are recorded for replay protection."""

from django.db import models


class WebhookReceipt(models.Model):
    """A processed webhook delivery (platform + delivery id), so replays are recognised. No payload is kept."""

    platform = models.CharField(max_length=20)
    delivery_id = models.CharField(max_length=200)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["platform", "delivery_id"], name="webhook_receipt_unique")]

    def __str__(self) -> str:
        return f"{self.platform}:{self.delivery_id}"
