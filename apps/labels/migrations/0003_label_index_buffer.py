# Labels created from now on wait in an exactly-scanned buffer before joining the (now partial) HNSW index.
# Existing labels are already in the index: they are added as indexed.

import pgvector.django.indexes
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("labels", "0002_labelingjob_labelmerge_labelmonthlycount"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="label",
            name="label_embedding_hnsw",
        ),
        migrations.AddField(
            model_name="label",
            name="indexed",
            field=models.BooleanField(default=True),
        ),
        migrations.AlterField(
            model_name="label",
            name="indexed",
            field=models.BooleanField(
                default=False,
                help_text="In the HNSW index. A new label waits a minute in a small buffer that is scanned exactly, so creating one does not pay for the index insert (labels_index_pending moves it).",
            ),
        ),
        migrations.AddIndex(
            model_name="label",
            index=pgvector.django.indexes.HnswIndex(
                condition=models.Q(("indexed", True)),
                ef_construction=64,
                fields=["embedding"],
                m=16,
                name="label_embedding_hnsw",
                opclasses=["vector_cosine_ops"],
            ),
        ),
        migrations.AddIndex(
            model_name="label",
            index=models.Index(condition=models.Q(("indexed", False)), fields=["created_at"], name="label_pending"),
        ),
    ]
