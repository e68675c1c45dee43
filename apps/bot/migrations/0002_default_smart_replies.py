"""Default smart replies (French and English): greetings, thanks, goodbyes and the demo knowledge base's most
asked questions. The answers restate docs/knowledge (horaires.fr.txt, livraison.fr.md, account.en.md,
returns-refunds.en.md); supervisors edit or disable them in the admin. The data is frozen here, as a migration's
must be."""

from typing import Any

from django.db import migrations

HOURS = "Horaires d'ouverture du service client Alizé"
DELIVERY = "Livraison et retours"
ACCOUNT = "Account and SIM activation"
RETURNS = "Returns and refunds"

# (name, language, match_type, whole_message, priority, patterns, answer, source_title)
DEFAULTS: list[tuple[str, str, str, bool, int, str, str, str]] = [
    (
        "Salutation",
        "fr",
        "keywords",
        True,
        50,
        "bonjour\nbonsoir\nsalut\ncoucou\nbjr\nslt\nre bonjour",
        "Bonjour ! Je suis l'assistant virtuel d'Alizé. Posez-moi votre question (facture, livraison, box, "
        "forfait…) ; si besoin, je vous passe un conseiller.",
        "",
    ),
    (
        "Greeting",
        "en",
        "keywords",
        True,
        50,
        "hello\nhi\nhey\ngood morning\ngood afternoon\ngood evening\nhiya",
        "Hello! I'm Alizé's virtual assistant. Ask me your question (bill, delivery, box, plan…); if needed, "
        "I'll put you through to an advisor.",
        "",
    ),
    (
        "Remerciements",
        "fr",
        "keywords",
        True,
        60,
        "merci\nmrc\nmci\nremercie",
        "Avec plaisir ! Puis-je vous aider pour autre chose ?",
        "",
    ),
    (
        "Thanks",
        "en",
        "keywords",
        True,
        60,
        "thanks\nthank you\nthx\nty\ncheers\nmuch appreciated",
        "You're welcome! Is there anything else I can help you with?",
        "",
    ),
    (
        "Au revoir",
        "fr",
        "keywords",
        True,
        70,
        "au revoir\nbonne journee\nbonne soiree\na bientot\nbonne fin de journee\na plus\nadieu",
        "Au revoir et bonne journée ! Revenez quand vous voulez si vous avez une autre question.",
        "",
    ),
    (
        "Goodbye",
        "en",
        "keywords",
        True,
        70,
        "bye\ngoodbye\nsee you\nhave a nice day\nhave a good day\ntake care",
        "Goodbye and have a nice day! Come back any time if you have another question.",
        "",
    ),
    (
        "Horaires du service client",
        "fr",
        "regex",
        False,
        200,
        r"\b(heures?|horaires?) d.?ouverture\b"
        "\n"
        r"\bhoraires?\b.{0,40}\b(service client|conseillers?|sav|hotline|chat|alize|3969|agence|boutique en ligne)\b"
        "\n"
        r"\b(service client|conseillers?|sav|hotline|3969)\b.{0,40}\b(ouverts?|fermes?|horaires?|joignables?)\b"
        "\n"
        r"\b(etes|etes-vous|vous etes)\b.{0,10}\bouverts?\b"
        "\n"
        r"\bquand\b.{0,30}\b(ouverts?|joindre)\b.{0,20}\b(vous|service|conseiller)",
        "Le service client (3969 et chat avec un conseiller) est ouvert du lundi au vendredi de 8 h à 21 h et le "
        "samedi de 9 h à 18 h, heure de Paris ; il est fermé le dimanche et les jours fériés. L'assistance "
        "technique (box et réseau mobile) répond tous les jours de 8 h à 22 h au 3969 (option 2) et par chat. La "
        "ligne vol, perte et fraude (+33 1 99 00 11 11) fonctionne 24 h sur 24.",
        HOURS,
    ),
    (
        "Opening hours",
        "en",
        "regex",
        False,
        200,
        r"\b(opening|business|office|customer service|support|call centre|call center) hours\b"
        "\n"
        r"\bwhat time\b.{0,20}\b(do|does|are|is)\b.{0,6}\b(you|customer service|support|alize|your (shop|store|team|advisors?))\b.{0,15}\b(open|close|closing|available)\b"
        "\n"
        r"\bwhen\b.{0,10}\b(are you|is customer service|is support|is alize|are your advisors)\b.{0,15}\b(open|reachable|available)\b"
        "\n"
        r"\b(are you|is customer service|is support) open\b",
        "Customer service (3969 and chat with an advisor) is open Monday to Friday from 8 a.m. to 9 p.m. and "
        "Saturday from 9 a.m. to 6 p.m., Paris time; it is closed on Sundays and public holidays. Technical "
        "support (box and mobile network) answers every day from 8 a.m. to 10 p.m. on 3969 (option 2) and by chat. "
        "The theft, loss and fraud line (+33 1 99 00 11 11) works 24/7.",
        HOURS,
    ),
    (
        "Suivre ma commande",
        "fr",
        "regex",
        False,
        200,
        r"\bsuivre\b.{0,20}\b(commande|colis|livraison|envoi)\b"
        "\n"
        r"\bsuivi\b.{0,20}\b(de )?(ma |mon |la |du )?(commande|colis|livraison|envoi)\b"
        "\n"
        r"\bou (en )?(est|sont)\b.{0,10}\b(ma|mon|mes)\b.{0,10}\b(commande|colis|livraison)"
        "\n"
        r"\bnumero de suivi\b",
        "Dans votre espace client, rubrique « Mes commandes », chaque commande affiche son statut (« Validée », "
        "« En préparation », « Expédiée », « Livrée ») ; cliquez sur « Suivre le colis » pour le détail chez le "
        "transporteur. Le numéro de suivi, envoyé par e-mail à l'expédition, devient actif quelques heures après : "
        "« colis inconnu » le jour même est normal. Si le suivi n'a pas bougé depuis 5 jours ouvrés, signalez-le "
        "dans « Mes commandes » > « Signaler un problème ».",
        DELIVERY,
    ),
    (
        "Track my order",
        "en",
        "regex",
        False,
        200,
        r"\btrack\w*\b.{0,20}\b(order|parcel|package|delivery|shipment)\b"
        "\n"
        r"\bwhere\b.{0,10}\b(is|are)\b.{0,10}\bmy\b.{0,10}\b(order|parcel|package|delivery)"
        "\n"
        r"\btracking (number|code|link)\b",
        "In your customer area, under « Mes commandes », each order shows its status (validated, being "
        "prepared, shipped, delivered); click « Suivre le colis » for the carrier's details. The tracking number, "
        'e-mailed when the order ships, becomes active a few hours later, so "unknown parcel" on the same day is '
        "normal. If tracking has not moved for 5 working days, report it under « Mes commandes » > « Signaler un "
        "problème ».",
        DELIVERY,
    ),
    (
        "Mot de passe oublié",
        "fr",
        "regex",
        False,
        200,
        r"\bmot de passe\b.{0,30}\b(oublie|perdu|reinitialis\w*|change\w*|bloque|modifier|plus)\b"
        "\n"
        r"\b(oublie|perdu|reinitialis\w*|changer|modifier|retrouver)\b.{0,20}\bmot de passe\b"
        "\n"
        r"\bmdp\b",
        "Cliquez sur « Mot de passe oublié » sur la page de connexion et saisissez l'adresse e-mail de votre "
        "compte : un lien de réinitialisation valable 30 minutes vous est envoyé (pensez aux spams). Seul le "
        "dernier lien fonctionne. Si vous n'avez plus accès à cette adresse, appelez le 3969 (option 1) : après "
        "vérification de votre identité, le lien vous est envoyé par SMS. Pour le mot de passe Wi-Fi de la box, "
        "demandez-le-moi simplement.",
        ACCOUNT,
    ),
    (
        "Forgot my password",
        "en",
        "regex",
        False,
        200,
        r"\b(forgot|forgotten|lost|reset|change|recover)\b.{0,20}\bpassword\b"
        "\n"
        r"\bpassword\b.{0,20}\b(reset|forgotten|forgot|lost|not working|doesn.?t work)\b",
        'Click "Forgot password" on the login page and enter your account\'s e-mail address: a reset link valid '
        "for 30 minutes is sent to you (check your spam folder). Only the latest link works. If you no longer have "
        "access to that e-mail address, call 3969 (option 1): after an identity check, the link is sent to you by "
        "SMS. For the box's Wi-Fi password, just ask me.",
        ACCOUNT,
    ),
    (
        "Retourner un produit",
        "fr",
        "regex",
        False,
        150,
        r"\b(retourner|renvoyer|rendre)\b.{0,20}\b(produit|article|telephone|commande|colis|achat)\b"
        "\n"
        r"\betiquette de retour\b",
        "Vous disposez de 30 jours après réception pour retourner un produit. Imprimez l'étiquette de retour "
        "(gratuite) depuis votre espace client, rubrique « Mes commandes », emballez le produit avec tous ses "
        "accessoires et déposez le colis en point relais. Le remboursement est effectué sous 14 jours après "
        "réception du colis dans notre entrepôt.",
        DELIVERY,
    ),
    (
        "Return a product",
        "en",
        "regex",
        False,
        150,
        r"\b(return|send back)\b.{0,20}\b(product|item|phone|order|parcel|purchase)\b"
        "\n"
        r"\breturn label\b",
        "You can return any product bought on the Alizé online shop within 30 days of delivery, for any reason, "
        "complete with its box and accessories. Print the free return label in your customer area under « Mes "
        "commandes » and drop the parcel at a relay point. The refund goes back to the payment method used for the "
        "order.",
        RETURNS,
    ),
]


def seed(apps: Any, schema_editor: Any) -> None:
    SmartReply = apps.get_model("bot", "SmartReply")
    for name, language, match_type, whole, priority, patterns, answer, source in DEFAULTS:
        SmartReply.objects.update_or_create(
            name=name,
            defaults={
                "language": language,
                "match_type": match_type,
                "whole_message": whole,
                "priority": priority,
                "patterns": patterns,
                "answer": answer,
                "source_title": source,
                "active": True,
            },
        )


def unseed(apps: Any, schema_editor: Any) -> None:
    apps.get_model("bot", "SmartReply").objects.filter(name__in=[d[0] for d in DEFAULTS]).delete()


class Migration(migrations.Migration):
    dependencies = [("bot", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
