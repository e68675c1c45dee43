"""The bot's own sentences (not prompts: they go to the customer as they are), in French and English."""

from __future__ import annotations

ESCALATION: dict[str, dict[str, str]] = {
    "fr": {
        "human_request": "Bien sûr : je vous passe un conseiller, qui va vous répondre ici même. Merci de patienter "
        "quelques instants.",
        "cancellation": "Je transmets votre demande de résiliation à un conseiller, qui va vous répondre ici même.",
        "refund": "Je transmets votre demande de remboursement à un conseiller, qui va vous répondre ici même.",
        "dispute": "Je transmets votre contestation à un conseiller, qui va étudier votre dossier et vous répondre "
        "ici même.",
        "complaint": "Je transmets votre réclamation à un conseiller, qui va la prendre en charge et vous répondre "
        "ici même.",
        "negative_sentiment": "Je suis désolé pour cette situation. Un conseiller va prendre le relais ici même pour "
        "la régler avec vous.",
        "bot_failures": "Je n'arrive pas à trouver la bonne réponse : je passe la main à un conseiller, qui va vous "
        "répondre ici même.",
    },
    "en": {
        "human_request": "Of course: I'm putting you through to an advisor, who will answer you right here. Please "
        "wait a moment.",
        "cancellation": "I'm passing your cancellation request to an advisor, who will answer you right here.",
        "refund": "I'm passing your refund request to an advisor, who will answer you right here.",
        "dispute": "I'm passing your dispute to an advisor, who will look into it and answer you right here.",
        "complaint": "I'm passing your complaint to an advisor, who will handle it and answer you right here.",
        "negative_sentiment": "I'm sorry about this. An advisor will take over right here to sort it out with you.",
        "bot_failures": "I can't find the right answer, so I'm handing over to an advisor, who will answer you right "
        "here.",
    },
}

NO_ANSWER = {
    "fr": "Je ne suis pas sûr de pouvoir répondre à cette question. Voulez-vous que je vous passe un conseiller ? "
    "Vous pouvez aussi la reformuler.",
    "en": "I'm not sure I can answer that. Shall I get you a human advisor? You can also rephrase your question.",
}

EMPTY = {
    "fr": "Je suis là pour vous aider : posez-moi votre question.",
    "en": "I'm here to help: just ask me your question.",
}

DECLINED = {
    "fr": "D'accord. Posez-moi une autre question, ou reformulez la précédente.",
    "en": "All right. Ask me another question, or rephrase the previous one.",
}

GREETING_PREFIX = {"fr": "Bonjour !", "en": "Hello!"}
