"""The copilot with the offline `local` provider (SPEC §7, docs/copilot.md): no language model, no network.

- Replies: the best sentences of the knowledge passages for the customer's latest message (cosine of the embeddings,
  `apps.ai.local.bot.extractive_answer`), phrased as an agent writes them in the conversation's language, each with
  its passage as citation; three variants (direct answer, sourced answer, answer with the next step's question).
- Questions to move forward, signals, priority, direction, next best actions, sentiment trend and the analytics come
  from lexicons (`apps.bot.rules` for cancellation, refund, dispute, complaint and negative sentiment; this module for
  hesitation, competitors, price objections, upgrade interest, repeated incidents and positive sentiment), FR and EN.
- Confidence comes from the retrieval similarity relative to COPILOT_MIN_RETRIEVAL (0.5 exactly at the threshold).

Pure functions of a `CopilotContext` plus the embeddings; the only side effect is the per-process cache of sentence
vectors (knowledge sentences recur from one message to the next). Never logs content.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from django.conf import settings
from langchain_core.embeddings import Embeddings

from apps.ai.embeddings import HashingEmbeddings, LocalModelEmbeddings, MiniLMEmbeddings
from apps.ai.local.bot import Sentence, _cosine, passage_sentences
from apps.ai.local.text import content_words, sentences
from apps.bot.rules import (
    CANCELLATION,
    COMPLAINT,
    DISPUTE,
    REFUND,
    guess_category,
    language_of,
    negative_sentiment,
    normalise,
)
from apps.copilot.types import (
    REPLY_MAX_CHARS,
    Analytics,
    ContextMessage,
    CopilotContext,
    Passage,
)

SYMMETRIC = (LocalModelEmbeddings, MiniLMEmbeddings, HashingEmbeddings)  # queries embedded like documents
PIECE_WORDS = 4  # words per streamed reply piece: the console fills in progressively
MAX_PASSAGES = 3  # passages whose sentences are candidates (the best-ranked ones)
PREFILTER = 8  # sentences pre-ranked by character n-grams kept (with the one following each) for the model
RANK_PENALTY = 0.10  # per retrieval rank: the search ranks documents better than a sentence cosine does
# (bench copilot_local, right document cited first on the eval set: 74/148 at 0.02, 79 at 0.05 and at 1 (top
# passage only), 81 at 0.10)
ANSWER_MAX = REPLY_MAX_CHARS - 80  # the direct answer leaves room for an apology or a question
SECOND_MARGIN = 0.12  # a second answer is offered when its similarity is within this of the best sentence's

# ----------------------------------------------------------------------------------------------- lexicons
# Patterns run on `apps.bot.rules.normalise`d text (lower case, no accents, plain apostrophes).

POSITIVE = re.compile(
    r"\b(?:merci beaucoup|mille mercis|parfait|super|genial|excellent|top|nickel|formidable|ravie?|content(?:e)?|"
    r"(?:tout|ca|cela|c'est) (?:marche|fonctionne|remarche|refonctionne)(?! pas| plus| toujours pas| jamais)|"
    r"c'est (?:bon|regle|resolu|ok)|probleme (?:regle|resolu)|"
    r"thank you so much|thanks a lot|perfect|great|awesome|excellent|brilliant|happy|"
    r"(?:it|everything|all) works?(?! not)|works now|working now|(?:solved|resolved|fixed)(?: now)?)\b"
)
THANKS = re.compile(r"\b(?:merci|thanks|thank you|thx)\b")
HESITATION = re.compile(
    r"\b(?:j'hesite|hesite|hesitation|pas (?:sure?|certaine?|convaincue?)|je (?:ne )?sais pas|peut-etre|"
    r"(?:je vais|laissez-moi|je dois) (?:y )?reflechir|not sure|unsure|undecided|i don't know|maybe|perhaps|"
    r"(?:think|thinking) (?:about it|it over)|hesitant)\b"
)
PRICE_OBJECTION = re.compile(
    r"\b(?:trop cher|trop chere|trop eleve|hors de prix|moins cher|ca coute cher|too expensive|overpriced|"
    r"cheaper|too much money|costs? too much)\b"
)
COMPETITOR = re.compile(
    r"\b(?:concurren\w*|ailleurs|autre operateur|(?:chez|vers|pour) (?:free|orange|sfr|bouygues|sosh)|"
    r"free mobile|red by sfr|b&you|another (?:provider|operator|carrier)|competitors?|"
    r"(?:switch|move|go) (?:to|over to) (?:another|a different|orange|sfr|free|bouygues)|changer d'operateur|"
    r"change (?:provider|operator|carrier))\b"
)
UPGRADE = re.compile(
    r"\b(?:plus de (?:data|go|gigas?|debit)|passer (?:a|au|en|sur) (?:la |le |l')?(?:fibre|5g|forfait superieur|"
    r"offre superieure|premium)|meilleure? offre|(?:ajouter|prendre) (?:une|l'|cette) option|augmenter mon forfait|"
    r"upgrade\w*|more data|bigger plan|faster (?:speed|plan|internet)|add (?:an|the) option|fibre|fiber|5g)\b"
)
REPEATED = re.compile(
    r"\b(?:\d+|deux|trois|quatre|cinq|plusieurs|two|three|four|five|several) (?:pannes?|coupures?|fois|incidents?|"
    r"bugs?|outages?|times|interruptions?)\b|\b(?:encore une fois|a nouveau|de nouveau|toujours pas|again|"
    r"encore (?:une |un |en )?(?:pannes?|coupures?|coupe|bugs?|problemes?|incidents?)|"
    r"still not|still no|still doesn't|still isn't)\b"
)
PORTABILITY = re.compile(
    r"\b(?:rio|portabilite|portage|changer d'operateur|garder (?:mon|le) numero|keep(?:ing)? my (?:phone )?number|"
    r"port(?:ing)? my number|number transfer)\b"
)
RETURNS = re.compile(r"\b(?:rembours\w*|retour(?:ner|ne|nes)?|renvoye\w*|refund\w*|returns?|returning|sent back)\b")
ORDER_WORDS = re.compile(r"\b(?:commande|colis|livraison|livre|order|parcel|delivery|delivered|shipping)\b")
SINCE_WORDS = re.compile(r"\b(?:depuis|since|for (?:\d+|two|three|a few) (?:days|weeks|hours))\b")
DEVICE_WORDS = re.compile(r"\b(?:iphone|android|samsung|box|decodeur|modem|routeur|router|telephone|phone|pc|mac)\b")
AMOUNT_RE = re.compile(r"\d+(?:[.,]\d{1,2})?\s?(?:€|eur\b|euros?\b|\$|usd\b)|[$€]\s?\d+")
ORDER_RE = re.compile(
    r"(?i:\b(?:commande|order|cmd|n°|no\.)|#)\s*(?i:n°|no\.?|number|numero|numéro|#|:)?\s*"
    r"(?P<id>[A-Za-z]{0,4}-?\d[A-Za-z0-9-]{2,})"
)

# ----------------------------------------------------------------------------------------------- wording

SIGNALS: dict[str, dict[str, str]] = {
    "fr": {
        "cancellation": "Intention de résiliation",
        "refund": "Demande de remboursement",
        "dispute": "Contestation d'un débit",
        "complaint": "Réclamation formelle",
        "negative_sentiment": "Mécontentement",
        "repeated_issue": "Incidents répétés",
        "competitor": "Mention de la concurrence",
        "price_objection": "Objection sur le prix",
        "hesitation": "Hésitation",
        "upgrade_interest": "Opportunité : intérêt pour une offre supérieure",
        "satisfaction": "Client satisfait",
    },
    "en": {
        "cancellation": "Cancellation intent",
        "refund": "Refund request",
        "dispute": "Disputed charge",
        "complaint": "Formal complaint",
        "negative_sentiment": "Dissatisfaction",
        "repeated_issue": "Repeated incidents",
        "competitor": "Competitor mentioned",
        "price_objection": "Price objection",
        "hesitation": "Hesitation",
        "upgrade_interest": "Opportunity: interest in a higher plan",
        "satisfaction": "Satisfied customer",
    },
}
INTENT_LABELS: dict[str, dict[str, str]] = {
    "fr": {
        "cancellation": "Résiliation",
        "refund": "Remboursement",
        "dispute": "Contestation",
        "complaint": "Réclamation",
        "billing": "Facturation",
        "technical": "Problème technique",
        "activation": "Activation",
        "plan": "Forfait",
        "assistance": "Commande et compte",
        "portability": "Portabilité",
        "returns": "Retour et remboursement",
        "general": "Demande",
    },
    "en": {
        "cancellation": "Cancellation",
        "refund": "Refund",
        "dispute": "Dispute",
        "complaint": "Complaint",
        "billing": "Billing",
        "technical": "Technical issue",
        "activation": "Activation",
        "plan": "Plan",
        "assistance": "Order and account",
        "portability": "Number transfer",
        "returns": "Return and refund",
        "general": "Request",
    },
}
# (key, skip-if-known condition, FR, EN). Keys: "order" (skipped when an order number is known), "since", "device",
# "amount", or "" (always asked).
_Q = tuple[str, str, str]
QUESTIONS: dict[str, list[_Q]] = {
    "cancellation": [
        ("", "Qu'est-ce qui motive votre souhait de résilier ?", "What makes you want to cancel?"),
        (
            "",
            "Si nous réglions ce problème, souhaiteriez-vous rester chez nous ?",
            "If we solved this problem, would you like to stay with us?",
        ),
        ("", "À quelle date souhaitez-vous que la résiliation prenne effet ?", "When should the cancellation apply?"),
    ],
    "refund": [
        ("amount", "Quel est le montant concerné ?", "What amount is concerned?"),
        ("", "À quelle date le paiement a-t-il été débité ?", "On what date was the payment taken?"),
        ("order", "Quel est le numéro de commande ou de facture ?", "What is the order or invoice number?"),
    ],
    "dispute": [
        ("amount", "Quel montant contestez-vous ?", "What amount are you disputing?"),
        ("", "À quelle date ce débit apparaît-il sur votre relevé ?", "On what date does the charge appear?"),
        ("", "Avez-vous déjà contacté votre banque ?", "Have you already contacted your bank?"),
    ],
    "complaint": [
        ("", "Quel est le problème principal que vous souhaitez signaler ?", "What is the main problem to report?"),
        ("", "Quelles démarches avez-vous déjà faites auprès de nous ?", "What steps have you already taken with us?"),
    ],
    "technical": [
        ("since", "Depuis quand rencontrez-vous ce problème ?", "Since when have you had this problem?"),
        ("device", "Quel appareil est concerné (box, téléphone, décodeur) ?", "Which device is affected?"),
        ("", "Avez-vous déjà redémarré l'équipement ?", "Have you already restarted the equipment?"),
    ],
    "billing": [
        ("amount", "Quel est le montant concerné ?", "What amount is concerned?"),
        ("", "De quelle facture ou de quel prélèvement s'agit-il ?", "Which invoice or payment is it about?"),
        ("", "Quel moyen de paiement utilisez-vous ?", "Which payment method do you use?"),
    ],
    "assistance": [
        ("order", "Pouvez-vous me donner votre numéro de commande ?", "Could you give me your order number?"),
        ("", "Quand avez-vous passé la commande ?", "When did you place the order?"),
        ("", "Avez-vous reçu un e-mail de suivi ?", "Did you receive a tracking e-mail?"),
    ],
    "activation": [
        ("", "Avez-vous reçu votre carte SIM et votre code d'activation ?", "Did you receive your SIM and code?"),
        ("", "Quel message s'affiche sur votre téléphone ?", "What message does your phone show?"),
        ("device", "Quel téléphone utilisez-vous ?", "Which phone do you use?"),
    ],
    "portability": [
        ("", "Souhaitez-vous garder votre numéro actuel ?", "Do you want to keep your current number?"),
        ("", "Qu'est-ce qui vous fait envisager de changer d'opérateur ?", "What makes you consider switching?"),
        ("", "Avez-vous un engagement en cours ?", "Are you still under a minimum term?"),
    ],
    "returns": [
        ("order", "Quel est le numéro de commande concerné ?", "What is the order number?"),
        ("", "Quand avez-vous renvoyé le produit ?", "When did you send the product back?"),
        ("", "Avez-vous reçu une confirmation de retour ?", "Did you receive a return confirmation?"),
    ],
    "plan": [
        ("", "Quel usage faites-vous de votre forfait (data, appels, étranger) ?", "How do you use your plan?"),
        ("", "Souhaitez-vous que je compare avec une autre offre ?", "Shall I compare it with another plan?"),
    ],
    "general": [
        ("", "Pouvez-vous m'en dire un peu plus sur votre demande ?", "Could you tell me a bit more?"),
        ("", "Qu'avez-vous déjà essayé ?", "What have you already tried?"),
        ("", "Sur quel produit ou service porte votre question ?", "Which product or service is it about?"),
    ],
}
DIRECTIONS: dict[str, tuple[str, str]] = {
    "cancellation": (
        "Rétention : comprendre le motif de départ et proposer une solution avant de traiter la résiliation.",
        "Retention: understand why the customer wants to leave and offer a solution before processing the cancellation.",
    ),
    "refund": (
        "Vérifier l'éligibilité au remboursement et donner un délai précis.",
        "Check refund eligibility and give a precise timeframe.",
    ),
    "dispute": (
        "Identifier le débit contesté et expliquer la procédure de contestation.",
        "Identify the disputed charge and explain the dispute procedure.",
    ),
    "complaint": (
        "Prendre la réclamation au sérieux : reformuler, s'excuser et ouvrir un dossier suivi.",
        "Take the complaint seriously: restate it, apologise and open a tracked case.",
    ),
    "negative": (
        "Désamorcer : reconnaître la gêne, s'excuser et proposer une action concrète.",
        "De-escalate: acknowledge the trouble, apologise and offer a concrete action.",
    ),
    "opportunity": (
        "Opportunité : présenter l'offre adaptée au besoin exprimé.",
        "Opportunity: present the plan that fits the stated need.",
    ),
    "default": (
        "Répondre avec l'article cité et vérifier que la réponse convient.",
        "Answer with the cited article and check that it solves the question.",
    ),
}
ACTIONS: dict[str, tuple[str, str]] = {
    "retention_offer": ("Proposer une offre de fidélisation", "Offer a retention deal"),
    "check_commitment": ("Vérifier l'engagement et les frais de résiliation", "Check commitment and cancellation fees"),
    "check_refund": ("Vérifier l'éligibilité au remboursement", "Check refund eligibility"),
    "check_charge": ("Retrouver le débit contesté dans l'historique", "Find the disputed charge in the history"),
    "open_case": ("Ouvrir un dossier de réclamation", "Open a complaint case"),
    "apologise": ("S'excuser et proposer un geste commercial", "Apologise and offer a goodwill gesture"),
    "diagnose": ("Lancer un diagnostic de la ligne", "Run a line diagnostic"),
    "track_order": ("Vérifier le suivi de la commande", "Check the order tracking"),
    "check_invoice": ("Consulter la facture concernée", "Open the invoice concerned"),
    "check_activation": ("Vérifier l'état d'activation de la ligne", "Check the line's activation status"),
    "check_return": ("Vérifier le statut du retour et du remboursement", "Check the return and refund status"),
    "check_portability": ("Vérifier l'engagement et le RIO de la ligne", "Check the line's commitment and RIO code"),
    "present_offer": ("Présenter l'offre supérieure", "Present the higher plan"),
    "send_article": ("Envoyer l'article cité", "Send the cited article"),
    "confirm_resolved": ("Confirmer la résolution et clore", "Confirm it is solved and close"),
}
EMPATHY = {
    "fr": "Je comprends votre agacement et je vous prie de nous excuser.",
    "en": "I understand your frustration and I am sorry for the trouble.",
}
SOURCED = {"fr": "D'après notre article « {title} » : {text}", "en": "According to our article “{title}”: {text}"}
NEXT_STEP = {"fr": "{text} Pour avancer : {question}", "en": "{text} To move forward: {question}"}
THANKS_REPLY = {
    "fr": "Merci pour votre retour. {text}",
    "en": "Thank you for your message. {text}",
}

# ----------------------------------------------------------------------------------------------- analysis


@dataclass
class MessageMood:
    """One message's sentiment ("positive" | "negative" | "neutral", with a score in [-1, 1]) and emotion."""

    sentiment: str
    score: float
    emotion: str
    negative: int  # apps.bot.rules negative-sentiment score (lexicon + intensity)


def message_mood(message: ContextMessage) -> MessageMood:
    """The mood of ``message``: its own ``sentiment``/``emotion`` when given, else lexicons."""
    norm = normalise(message.text)
    neg = negative_sentiment(message.text)
    positive = len(POSITIVE.findall(norm)) * 2 + (1 if THANKS.search(norm) else 0)
    negative = neg.lexicon + (neg.intensity if neg.lexicon else 0) + (2 if REPEATED.search(norm) else 0)
    if negative >= 2 and negative >= positive:
        sentiment, score = "negative", -min(1.0, negative / 6)
    elif positive >= 2 and positive > negative:
        sentiment, score = "positive", min(1.0, positive / 4)
    else:
        sentiment, score = "neutral", 0.0
    if message.sentiment in ("positive", "negative", "neutral"):
        sentiment = message.sentiment
        score = {"positive": max(score, 0.5), "negative": min(score, -0.5), "neutral": 0.0}[sentiment]
    if neg.lexicon >= 3 or (neg.lexicon >= 2 and neg.intensity >= 1) or neg.score >= 5:
        emotion = "anger"
    elif sentiment == "positive" and positive >= 2:
        emotion = "joy"
    elif HESITATION.search(norm):
        emotion = "uncertain"
    else:
        emotion = "neutral"
    if message.emotion in ("joy", "anger", "uncertain", "neutral"):
        emotion = message.emotion
    return MessageMood(sentiment, score, emotion, neg.score)


@dataclass
class Reading:
    """What the lexicons read in a conversation, for the suggestion and the analytics."""

    language: str
    latest: str  # the customer's latest message ("" when the customer has not written)
    query: str  # what the knowledge sentences are compared with
    category: str  # apps.bot.rules.guess_category slug of the customer's text
    intents: list[str]  # "cancellation", "refund", "dispute", "complaint" found in the customer's text, in that order
    signals: list[str]  # slugs of SIGNALS, most important first
    moods: list[MessageMood]  # the customer's messages, in order
    known: set[str] = field(default_factory=set)  # "order", "since", "device", "amount": already given
    order_numbers: list[str] = field(default_factory=list)

    @property
    def intent(self) -> str:
        return self.intents[0] if self.intents else self.category

    @property
    def latest_mood(self) -> MessageMood:
        return self.moods[-1] if self.moods else MessageMood("neutral", 0.0, "neutral", 0)


def _client_texts(context: CopilotContext) -> list[str]:
    return [m.text for m in context.messages if m.speaker == "client" and m.text.strip()]


def conversation_read(context: CopilotContext) -> Reading:
    """Read the conversation with the lexicons (customer messages only; the latest ones weigh most)."""
    client = [m for m in context.messages if m.speaker == "client" and m.text.strip()]
    texts = [m.text for m in client]
    latest = texts[-1] if texts else ""
    language = context.language if context.language in ("fr", "en") else language_of(latest, tuple(texts[:-1]))
    # A short latest message (« et pour la 5G ? ») is searched with the one before it.
    query = latest if len(content_words(latest)) >= 3 or len(texts) < 2 else f"{texts[-2]} {latest}"
    recent = " ".join(texts[-3:])
    norm_recent = normalise(recent)
    norm_all = normalise(" ".join(texts))
    category = guess_category(latest) if latest else "general"
    for earlier in reversed(texts[:-1]):
        if category != "general":
            break
        category = guess_category(earlier)
    intents = [
        name
        for name, pattern in (
            ("cancellation", CANCELLATION),
            ("refund", REFUND),
            ("dispute", DISPUTE),
            ("complaint", COMPLAINT),
        )
        if pattern.search(norm_recent)
    ]
    moods = [message_mood(m) for m in client]
    signals = list(intents)
    if moods and (moods[-1].sentiment == "negative" or any(m.negative >= 3 for m in moods[-3:])):
        signals.append("negative_sentiment")
    for slug, pattern in (
        ("repeated_issue", REPEATED),
        ("competitor", COMPETITOR),
        ("price_objection", PRICE_OBJECTION),
        ("hesitation", HESITATION),
        ("upgrade_interest", UPGRADE),
    ):
        if pattern.search(norm_recent):
            signals.append(slug)
    if moods and moods[-1].sentiment == "positive" and not intents:
        signals.append("satisfaction")
    orders = [o for key, values in context.entities.items() if "order" in key for o in values]
    for text in texts:
        orders.extend(m.group("id") for m in ORDER_RE.finditer(text) if m.group("id") not in orders)
    known = set()
    if orders:
        known.add("order")
    if SINCE_WORDS.search(norm_all) or context.entities.get("dates"):
        known.add("since")
    if DEVICE_WORDS.search(norm_all):
        known.add("device")
    if AMOUNT_RE.search(" ".join(texts)) or context.entities.get("amounts"):
        known.add("amount")
    if PORTABILITY.search(norm_recent):
        category = "portability"
    elif RETURNS.search(norm_recent) and category in ("general", "assistance", "billing"):
        category = "returns"
    elif ORDER_WORDS.search(norm_recent) and category in ("general", "assistance"):
        category = "assistance"
    return Reading(language, latest, query, category, intents, signals, moods, known, orders)


def questions_for(reading: Reading, limit: int = 3) -> list[str]:
    """2–3 questions that move the conversation forward, by intent then topic, skipping what is already known."""
    lang = 1 if reading.language == "fr" else 2
    out: list[str] = []
    for topic in [*reading.intents, reading.category, "general"]:
        for key, *texts in QUESTIONS.get(topic, []):
            question = texts[lang - 1]
            if key and key in reading.known:
                continue
            if question not in out:
                out.append(question)
            if len(out) >= limit:
                return out
    return out


def priority_for(reading: Reading) -> str:
    """critical: cancellation (or a complaint) with anger; high: cancellation, refund, dispute, complaint or clear
    dissatisfaction; medium: hesitation, competitor, price objection, repeated incidents, a technical problem."""
    mood = reading.latest_mood
    angry = mood.emotion == "anger" or mood.negative >= settings.BOT_URGENT_THRESHOLD
    if angry and ({"cancellation", "complaint"} & set(reading.intents)):
        return "critical"
    if reading.intents or "negative_sentiment" in reading.signals:
        return "high"
    if {"hesitation", "competitor", "price_objection", "repeated_issue"} & set(reading.signals):
        return "medium"
    if reading.category == "technical":
        return "medium"
    return "low"


def trend_for(reading: Reading) -> str:
    """improving / declining / stable: the latest customer message's sentiment against the mean of the (up to 5)
    before it. Stable with fewer than two customer messages."""
    if len(reading.moods) < 2:
        return "stable"
    earlier = [m.score for m in reading.moods[-6:-1]]
    delta = reading.moods[-1].score - sum(earlier) / len(earlier)
    if delta >= 0.4:
        return "improving"
    if delta <= -0.4:
        return "declining"
    return "stable"


def direction_for(reading: Reading) -> str:
    lang = 0 if reading.language == "fr" else 1
    if reading.intents:
        key = reading.intents[0]
    elif "negative_sentiment" in reading.signals:
        key = "negative"
    elif "upgrade_interest" in reading.signals:
        key = "opportunity"
    else:
        key = "default"
    return DIRECTIONS[key][lang]


def actions_for(reading: Reading) -> list[str]:
    """2–3 next best actions for the agent."""
    keys: list[str] = []
    intents = set(reading.intents)
    if "cancellation" in intents:
        keys += ["retention_offer", "check_commitment"]
    if "refund" in intents:
        keys.append("check_refund")
    if "dispute" in intents:
        keys.append("check_charge")
    if "complaint" in intents:
        keys.append("open_case")
    if "negative_sentiment" in reading.signals:
        keys.append("apologise")
    if "upgrade_interest" in reading.signals or "price_objection" in reading.signals:
        keys.append("present_offer")
    keys.append(
        {
            "technical": "diagnose",
            "assistance": "track_order",
            "billing": "check_invoice",
            "activation": "check_activation",
            "returns": "check_return",
            "portability": "check_portability",
        }.get(reading.category, "send_article")
    )
    if "satisfaction" in reading.signals:
        keys.insert(0, "confirm_resolved")
    lang = 0 if reading.language == "fr" else 1
    out: list[str] = []
    for key in keys:
        text = ACTIONS[key][lang]
        if key == "track_order" and reading.order_numbers:
            text = f"{text} {reading.order_numbers[-1]}"
        if text not in out:
            out.append(text)
    return out[:3]


# ----------------------------------------------------------------------------------------------- replies


class CachedEmbeddings(Embeddings):
    """Wraps an Embeddings with a per-process LRU cache of vectors by text (the knowledge base's sentences recur
    from one customer message to the next). Thread-safe."""

    def __init__(self, inner: Embeddings, size: int = 4096) -> None:
        self.inner = inner
        self.size = size
        self._cache: OrderedDict[str, list[float]] = OrderedDict()
        self._lock = threading.Lock()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            vectors = self.inner.embed_documents(missing)
            with self._lock:
                for text, vector in zip(missing, vectors, strict=True):
                    self._cache[text] = vector
                while len(self._cache) > self.size:
                    self._cache.popitem(last=False)
        with self._lock:
            out = []
            for text in texts:
                self._cache.move_to_end(text)
                out.append(self._cache[text])
            return out

    def embed_query(self, text: str) -> list[float]:
        key = f"\x00query\x00{text}"  # an asymmetric model embeds queries differently from documents
        with self._lock:
            vector = self._cache.get(key)
        if vector is None:
            vector = self.inner.embed_query(text)
            with self._lock:
                self._cache[key] = vector
        return vector

    def embed_query_and_documents(self, query: str, texts: list[str]) -> tuple[list[float], list[list[float]]]:
        """Both at once: one model call instead of two when the model embeds queries and documents alike (the
        call's fixed cost is a large part of the time to the first delta)."""
        if isinstance(self.inner, SYMMETRIC):
            vectors = self.embed_documents([query, *texts])
            return vectors[0], vectors[1:]
        return self.embed_query(query), self.embed_documents(texts)


_CACHES: dict[int, CachedEmbeddings] = {}


def _cached(embeddings: Embeddings) -> CachedEmbeddings:
    cached = _CACHES.get(id(embeddings))
    if cached is None or cached.inner is not embeddings:
        cached = _CACHES[id(embeddings)] = CachedEmbeddings(embeddings)
    return cached


def shorten(text: str, limit: int = REPLY_MAX_CHARS) -> str:
    """``text`` cut to ``limit`` characters: at the last sentence end that fits, else at a word, with "…"."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit]
    end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    if end >= limit // 2:
        return cut[: end + 1]
    return cut[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"


@dataclass
class Grounding:
    """The replies' material: the best answer (text, passage index, similarity) and optionally a second, different
    sentence (text, passage index)."""

    answer: str
    passage: int
    similarity: float
    second: tuple[str, int] | None = None


@lru_cache(maxsize=1)
def _lexical() -> Embeddings:
    return HashingEmbeddings(512)


def _prefiltered(query: str, candidates: list[Sentence], keep: int) -> list[Sentence]:
    """The ``keep`` candidates nearest to ``query`` by character n-grams (instant, no model), each with the sentence
    that follows it in its paragraph, in their original order: the model then embeds ~2×keep sentences, not 60."""
    if len(candidates) <= 2 * keep:
        return candidates
    lexical = _lexical()
    query_vector = lexical.embed_query(query)
    vectors = lexical.embed_documents([c.text for c in candidates])
    order = sorted(
        range(len(candidates)),
        key=lambda i: -(_cosine(query_vector, vectors[i]) - RANK_PENALTY * candidates[i].passage),
    )
    chosen: set[int] = set()
    for i in order[:keep]:
        chosen.add(i)
        after = i + 1
        if after < len(candidates) and (candidates[after].passage, candidates[after].paragraph) == (
            candidates[i].passage,
            candidates[i].paragraph,
        ):
            chosen.add(after)
    return [candidates[i] for i in sorted(chosen)]


def grounding_for(
    query: str, passages: Sequence[Passage], embeddings: Embeddings, *, prefilter: int | None = PREFILTER
) -> Grounding | None:
    """The best extractive answer to ``query`` from the first MAX_PASSAGES passages, chosen like
    `apps.ai.local.bot.extractive_answer` (the sentence most similar to the query, a small penalty per retrieval
    rank; joined by a nearly as similar or directly following sentence of the same passage; passage order kept),
    and the best-ranked sentence it leaves out when that one is nearly as similar: a second, different answer.

    The candidates are pre-ranked by character n-grams (``prefilter`` of them and their following sentences; None:
    all) so that the model embeds a few sentences: the time to the first delta. None when the passages hold none.
    """
    used = list(passages[:MAX_PASSAGES])
    if not used or not query.strip():
        return None
    candidates = passage_sentences([p.text for p in used])
    if not candidates:
        return None
    if prefilter:
        candidates = _prefiltered(query, candidates, prefilter)
    cached = _cached(embeddings)
    query_vector, vectors = cached.embed_query_and_documents(query, [c.text for c in candidates])
    sims = [_cosine(query_vector, v) for v in vectors]
    scored = sorted(
        ((sim - RANK_PENALTY * c.passage, sim, c) for sim, c in zip(sims, candidates, strict=True)),
        key=lambda item: (-item[0], item[2].passage, item[2].position),
    )
    _, best_sim, best = scored[0]
    chosen = [best]
    length = len(best.text)
    same = sorted(((sim, c) for _, sim, c in scored[1:] if c.passage == best.passage), key=lambda item: -item[0])
    for sim, c in same:
        if len(chosen) >= 2:
            break
        follows = c.paragraph == best.paragraph and c.position == best.position + 1
        if (sim >= best_sim - 0.08 or (follows and sim >= best_sim - 0.25)) and length + len(c.text) <= ANSWER_MAX:
            chosen.append(c)
            length += len(c.text) + 1
    chosen.sort(key=lambda c: c.position)
    second = None
    for score, _, c in scored:
        if c in chosen:
            continue
        # Only when it answers nearly as well: a weaker sentence would be a wrong answer with a source.
        if score >= best_sim - SECOND_MARGIN:
            second = (c.text, c.passage)
        break
    return Grounding(" ".join(c.text for c in chosen), best.passage, round(best_sim, 4), second)


def _citation(passage: Passage) -> dict[str, object]:
    return {"title": passage.title, "url": passage.url, "chunk_id": passage.chunk_id}


def as_sentence(text: str) -> str:
    """A knowledge-base fragment as a sentence an agent writes: capital first letter, a list item's trailing ";" or
    "," made a full stop."""
    text = " ".join(text.split())
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text[:-1].rstrip() + "." if text[-1] in ";,:" else text


def replies_for(reading: Reading, grounding: Grounding, passages: Sequence[Passage]) -> list[dict[str, object]]:
    """Three reply variants in the conversation's language: the direct answer (with an apology first when the
    customer is unhappy, a thank-you when pleased), the answer sourced by its article's title (from another passage
    when one answers too), and the answer followed by the most useful question."""
    lang = reading.language if reading.language in ("fr", "en") else "fr"
    main = passages[grounding.passage]
    answer = " ".join(as_sentence(s) for s in sentences(grounding.answer)) or as_sentence(grounding.answer)
    grounding = Grounding(
        answer,
        grounding.passage,
        grounding.similarity,
        (as_sentence(grounding.second[0]), grounding.second[1]) if grounding.second else None,
    )
    first_sentence = next(iter(sentences(grounding.answer)), grounding.answer)
    mood = reading.latest_mood
    if mood.sentiment == "negative" or "negative_sentiment" in reading.signals:
        direct = f"{EMPATHY[lang]} {grounding.answer}"
    elif mood.sentiment == "positive":
        direct = THANKS_REPLY[lang].format(text=grounding.answer)
    else:
        direct = grounding.answer
    answer_sentences = sentences(grounding.answer)
    if grounding.second is not None:
        text, index = grounding.second
        sourced_passage = passages[index]
    else:  # the main article again; its answer's last sentence (often the condition) when it has several
        text = answer_sentences[-1] if len(answer_sentences) > 1 else grounding.answer
        sourced_passage = main
    sourced = SOURCED[lang].format(title=sourced_passage.title, text=text)
    questions = questions_for(reading, limit=1)
    follow = NEXT_STEP[lang].format(text=first_sentence, question=questions[0]) if questions else first_sentence
    return [
        {"text": direct, "citations": [_citation(main)]},
        {"text": sourced, "citations": [_citation(sourced_passage)]},
        {"text": follow, "citations": [_citation(main)]},
    ]


def retrieval_similarity(passages: Sequence[Passage]) -> float | None:
    """The similarity the silence threshold is compared with: the best-ranked passage's cosine similarity to the
    query, as for the bot's BOT_MIN_SCORE (calibrated on it); None when there is no passage or the best-ranked one
    was found by full-text search alone (then the best sentence's similarity, or the model's confidence, decides)."""
    return passages[0].similarity if passages else None


def confidence_for(similarity: float, threshold: float) -> float:
    """0.5 at the retrieval threshold, rising linearly to 1 at similarity 1, falling to 0 at similarity 0."""
    if threshold <= 0:
        return round(max(0.0, min(1.0, similarity)), 2)
    if similarity >= threshold:
        value = 0.5 + 0.5 * min(1.0, (similarity - threshold) / max(1e-6, 1 - threshold))
    else:
        value = 0.5 * max(0.0, similarity) / threshold
    return round(value, 2)


def suggestion_raw(
    context: CopilotContext, embeddings: Embeddings, threshold: float, *, ground: bool = True
) -> dict[str, object]:
    """The local suggestion as a raw dict for `apps.ai.copilot.suggestion_normalise`. Replies are empty (silence)
    when the grounding similarity is under ``threshold``: `retrieval_similarity` when known (then nothing is
    embedded below it), else the best sentence's. ``ground=False``: the lexicon fields only (no embedding at all)."""
    reading = conversation_read(context)
    lang = reading.language if reading.language in SIGNALS else "fr"
    raw: dict[str, object] = {
        "questions": questions_for(reading),
        "signals_detected": [SIGNALS[lang][s] for s in reading.signals],
        "recommended_direction": direction_for(reading),
        "priority": priority_for(reading),
        "next_best_actions": actions_for(reading),
        "sentiment_trend": trend_for(reading),
        "replies": [],
        "confidence": 0.0,
    }
    top = retrieval_similarity(context.passages)
    if top is not None and top < threshold:
        raw["confidence"] = confidence_for(top, threshold)
        return raw
    grounding = grounding_for(reading.query, context.passages, embeddings) if reading.latest and ground else None
    if grounding is None:
        return raw
    similarity = top if top is not None else grounding.similarity
    raw["confidence"] = confidence_for(similarity, threshold)
    if similarity >= threshold:
        raw["replies"] = replies_for(reading, grounding, context.passages)
    return raw


def reply_pieces(text: str, words_per_piece: int = PIECE_WORDS) -> Iterator[str]:
    """``text`` in pieces of a few words that concatenate back to it exactly."""
    tokens = re.findall(r"\S+\s*", text)
    for i in range(0, len(tokens), words_per_piece):
        yield "".join(tokens[i : i + words_per_piece])


# ----------------------------------------------------------------------------------------------- analytics


def churn_risk_for(reading: Reading) -> int:
    """0–100. Cancellation intent is the base (60); anger and negative words, repeated incidents, competitors,
    price objections and hesitation add to it; a pleased latest message takes most of it away. A strong cancellation
    with anger or repeated incidents lands above 80; neutral questions stay under 20."""
    intents = set(reading.intents)
    risk = 60 if "cancellation" in intents else 30 if intents & {"complaint", "dispute"} else 20 if intents else 5
    mood = reading.latest_mood
    worst = max((m.negative for m in reading.moods[-3:]), default=0)
    risk += 5 * min(worst, 5)
    if mood.emotion == "anger":
        risk += 5
    signals = set(reading.signals)
    risk += 8 if "repeated_issue" in signals else 0
    risk += 15 if "competitor" in signals else 0
    risk += 8 if "price_objection" in signals else 0
    risk += 5 if "hesitation" in signals else 0
    if mood.sentiment == "positive":
        risk = risk // 4
    return max(0, min(100, risk))


def _summary_sentence(reading: Reading, texts: Sequence[str]) -> str:
    """The customer's sentence that says most about the intent: the one with the intent's trigger, an order number
    or the most content words (recent ones win ties)."""
    candidates = [s for text in texts[-6:] for s in sentences(text)] or list(texts[-1:])
    triggers = {"cancellation": CANCELLATION, "refund": REFUND, "dispute": DISPUTE, "complaint": COMPLAINT}

    def score(item: tuple[int, str]) -> float:
        position, sentence = item
        norm = normalise(sentence)
        value = len(set(content_words(sentence))) * 1.0 + position * 0.01
        if reading.intents and triggers[reading.intents[0]].search(norm):
            value += 10
        if any(o in sentence for o in reading.order_numbers):
            value += 4
        if guess_category(sentence) == reading.category != "general":
            value += 3
        return value

    return max(enumerate(candidates), key=score)[1]


def analytics_for(context: CopilotContext) -> Analytics:
    """The conversation's analytics from the lexicons (see `churn_risk_for`); the summary quotes the customer's
    most telling sentence, labelled with the intent, with the order number when one is known."""
    reading = conversation_read(context)
    lang = reading.language if reading.language in INTENT_LABELS else "fr"
    texts = _client_texts(context)
    mood = reading.latest_mood
    sentiment = mood.sentiment
    if sentiment == "neutral" and any(m.sentiment == "negative" for m in reading.moods[-3:]):
        sentiment = "negative"
    summary = ""
    if texts:
        quote = shorten(_summary_sentence(reading, texts), 140)
        label = INTENT_LABELS[lang].get(reading.intent, INTENT_LABELS[lang]["general"])
        summary = f"{label} : « {quote} »" if lang == "fr" else f"{label}: “{quote}”"
        order = next((o for o in reversed(reading.order_numbers) if o not in quote), None)
        if order:
            summary += f" (commande {order})" if lang == "fr" else f" (order {order})"
    actions = actions_for(reading)
    return Analytics(
        intent=reading.intent,
        sentiment=sentiment,
        emotion=mood.emotion,
        summary=summary,
        churn_risk=churn_risk_for(reading),
        next_action=actions[0] if actions else "",
    )


def summary_fold_local(previous: str, messages: Sequence[ContextMessage], language: str, limit: int = 600) -> str:
    """The running summary with ``messages`` folded in, extractively: the previous summary, then the messages'
    most central customer sentences (apps.ai.local.extractive_summary); trimmed to ``limit`` characters by dropping
    the oldest sentences of the previous summary first."""
    from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

    from apps.ai.local import extractive_summary

    converted: list[BaseMessage] = [
        HumanMessage(m.text) if m.speaker == "client" else AIMessage(m.text) for m in messages if m.text.strip()
    ]
    added = extractive_summary(converted, max_sentences=2)
    parts = [*sentences(previous), *([added] if added else [])]
    while len(parts) > 1 and len(" ".join(parts)) > limit:
        parts.pop(0)
    return shorten(" ".join(parts), limit) if parts else ""
