"""A few saved answers consistent with the demo knowledge base (docs/knowledge): returns, tracking, thanks."""

from django.db import migrations

SNIPPETS = [
    (
        "retour",
        "Retour d'un produit (30 jours)",
        "fr",
        "Vous disposez de 30 jours après réception pour retourner un produit, complet avec tous ses "
        "accessoires. Imprimez l'étiquette de retour (gratuite) depuis votre espace client, rubrique « Mes "
        "commandes », puis déposez le colis dans le point relais de votre choix. Le remboursement est effectué "
        "sous 14 jours après réception du colis dans notre entrepôt, sur le moyen de paiement de la commande.",
    ),
    (
        "suivi",
        "Suivi de commande",
        "fr",
        "Vous pouvez suivre votre colis dans votre espace client, rubrique « Mes commandes », en cliquant sur "
        "« Suivre le colis ». Le numéro de suivi devient actif quelques heures après l'e-mail d'expédition.",
    ),
    (
        "merci",
        "Remerciement et clôture",
        "fr",
        "Merci pour votre message ! N'hésitez pas à revenir vers nous si vous avez d'autres questions. Belle journée !",
    ),
    (
        "attente",
        "Mise en attente",
        "fr",
        "Je vérifie cela pour vous, merci de patienter quelques instants.",
    ),
    (
        "return",
        "Returning a product (30 days)",
        "en",
        "You can return any product within 30 days of delivery, complete with its box and accessories. Print "
        "the free return label from your account (« Mes commandes ») and drop the parcel at the relay point of "
        "your choice. The refund goes back to the payment method used for the order, within 14 days of the "
        "parcel reaching our warehouse.",
    ),
    (
        "tracking",
        "Order tracking",
        "en",
        "You can track your parcel in your account under « Mes commandes » > « Suivre le colis ». The tracking "
        "number becomes active a few hours after the shipping e-mail.",
    ),
    (
        "thanks",
        "Thanks and goodbye",
        "en",
        "Thank you for your message! Feel free to come back to us if you have any other question. Have a nice day!",
    ),
]


def seed(apps, schema_editor):
    Snippet = apps.get_model("console", "Snippet")
    for shortcut, title, language, body in SNIPPETS:
        Snippet.objects.get_or_create(
            shortcut=shortcut, defaults={"title": title, "language": language, "body": body, "active": True}
        )


def unseed(apps, schema_editor):
    Snippet = apps.get_model("console", "Snippet")
    Snippet.objects.filter(shortcut__in=[s[0] for s in SNIPPETS]).delete()


class Migration(migrations.Migration):
    dependencies = [("console", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
