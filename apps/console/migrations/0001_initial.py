import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Snippet",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "shortcut",
                    models.CharField(
                        help_text="Typed after a slash in the reply box: 'retour' expands /retour",
                        max_length=40,
                        unique=True,
                        validators=[
                            django.core.validators.RegexValidator(
                                "^[a-z0-9][a-z0-9_-]{0,39}$",
                                "Lowercase letters, digits, '-' and '_' (typed after a '/').",
                            )
                        ],
                    ),
                ),
                ("title", models.CharField(max_length=120)),
                ("body", models.TextField(help_text="The text that replaces the shortcut")),
                ("language", models.CharField(blank=True, help_text="fr, en, ... (informative)", max_length=8)),
                ("active", models.BooleanField(default=True)),
            ],
            options={"ordering": ["shortcut"]},
        ),
    ]
