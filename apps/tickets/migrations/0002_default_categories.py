from django.db import migrations

CATEGORIES = [
    ("billing", "Billing"),
    ("technical", "Technical"),
    ("plan", "Plan"),
    ("cancellation", "Cancellation"),
    ("complaint", "Complaint"),
    ("activation", "Activation"),
    ("assistance", "Assistance"),
    ("general", "General"),
]


def create(apps, schema_editor):  # type: ignore[no-untyped-def]
    TicketCategory = apps.get_model("tickets", "TicketCategory")
    for slug, name in CATEGORIES:
        TicketCategory.objects.get_or_create(slug=slug, defaults={"name": name})


class Migration(migrations.Migration):
    dependencies = [("tickets", "0001_initial")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
