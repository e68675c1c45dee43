from django.db import migrations
from pgvector.django import VectorExtension


class Migration(migrations.Migration):
    """pgvector must exist before any VectorField; every app with vectors depends on this migration."""

    initial = True
    dependencies: list[tuple[str, str]] = []
    operations = [VectorExtension()]
