"""Escalation rules of the bot's first line (SPEC §6 (c)): what makes the bot hand the conversation to a human.

Pure functions over the customer's text (no database, no model): explicit requests for a human, cancellation,
refund, dispute and official-complaint intents, and intense negative sentiment (a lexicon plus intensity: capitals,
repeated "!", angry emojis). Patterns are searched in `normalise`d text: lower case, no accents, typographic
apostrophes made plain, so one pattern covers « résilier », « RESILIER » and « resilier ».

The intents are first-person requests rather than topics: « je veux résilier » or « cancel my subscription »
escalates, while questions the knowledge base answers (« comment obtenir mon code RIO ? », « how long does a card
refund take? ») do not; cancellation is the exception, since any cancellation is a retention case for a human.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from apps.ai.local.text import content_words, words

# Each reason's ticket category (a TicketCategory slug) and priority.
REASON_TICKET: dict[str, tuple[str, str]] = {
    "cancellation": ("cancellation", "HIGH"),
    "refund": ("billing", "HIGH"),
    "dispute": ("billing", "HIGH"),
    "complaint": ("complaint", "HIGH"),
    "negative_sentiment": ("complaint", "HIGH"),  # URGENT when the sentiment is very intense
}


def normalise(text: str) -> str:
    """Lower case, accents removed, apostrophes and dashes made plain, whitespace collapsed."""
    text = text.replace("’", "'").replace("‘", "'").replace("–", "-").replace("—", "-")
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return " ".join(text.lower().split())


def _any(patterns: list[str]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns))


_HUMAN_WORDS = (
    r"(?:humains?|conseill(?:er|ere)s?|agents?|operat(?:eur|rice)s?|vraie? personnes?|personne reelle|"
    r"technicien(?:ne)?s?|quelqu'?un|humans?|persons?|someone|somebody|representatives?|advis[oe]rs?|operators?|"
    r"real people|live (?:agent|person|chat)|staff)"
)

HUMAN_REQUEST = _any(
    [
        # « je veux parler à un humain », « mettez-moi en relation avec un conseiller », « passez-moi un agent »
        r"\b(?:parler|discuter|echanger|ecrire|chatter|joindre|contacter|avoir|voir)\b.{0,25}\b(?:a|avec|un|une)\b.{0,12}"
        + _HUMAN_WORDS,
        r"\b(?:mettre|mettez|mets|mis|mise)[- ](?:moi )?en (?:relation|contact)\b",
        r"\b(?:passe[rz]?|passe-moi|passez-moi|transfere[rz]?|transferez-moi)\b.{0,15}\b(?:un|une|a un|a une)\b.{0,8}"
        + _HUMAN_WORDS,
        r"\b(?:je veux|je voudrais|j'aimerais|je souhaite|je demande|il me faut|besoin d'un)\b.{0,15}\b(?:un|une)\b.{0,8}"
        + _HUMAN_WORDS,
        r"\b(?:pas|plus) (?:a |avec )?(?:un|une|le|ce|votre|du) (?:robot|bot|chatbot|ia|machine)\b",
        # "talk to a human", "I want an agent", "connect me with someone"
        r"\b(?:talk|speak|chat|get through|connect me|put me through|transfer me)\b.{0,20}\b(?:to|with)\b.{0,15}"
        + _HUMAN_WORDS,
        r"\b(?:want|need|get me|give me|request|like)\b.{0,12}\b(?:a|an|to a|some|real)\b.{0,6}" + _HUMAN_WORDS,
        r"\b(?:not|no more|stop) (?:a |the |this |talking to (?:a |the )?)?(?:robot|bot|chatbot|machine|ai)\b",
    ]
)
# A message that is nothing but the request: « un conseiller », « humain svp », "agent please".
_HUMAN_ALONE = frozenset(
    "humain humains conseiller conseillere agent agents operateur operatrice human person representative advisor "
    "adviser operator technicien".split()
)
_POLITE = frozenset("svp stp please plz pls merci thanks vite maintenant now quickly directement vrai real".split())
_AFFIRMATIVE = frozenset(
    "oui ouais ouai yes yeah yep yup ok okay dac accord volontiers please svp stp sure merci thanks go vas allez "
    "bien oki".split()
)

CANCELLATION = _any(
    [
        r"\bresili\w*",
        r"\b(?:mettre fin|arreter|stopper|annuler)\b.{0,15}\b(?:mon|ma|mes|l'|le|la)\b.{0,5}"
        r"\b(?:abonnement|forfait|contrat|ligne|box|offre)s?\b",
        r"\bquitter (?:alize|vos services|votre operateur)\b",
        r"\bcancel\w*\b.{0,25}\b(?:subscription|contract|plan|line|box|service|membership|package)s?\b",
        r"\b(?:terminate|end|close)\b.{0,10}\b(?:my|the)\b.{0,10}\b(?:contract|subscription|plan|line)s?\b",
        r"\b(?:leave|leaving|quit) alize\b",
    ]
)
REFUND = _any(
    [
        r"\b(?:je veux|je voudrais|j'exige|j'aimerais|je souhaite|je demande|je reclame|exige)\b.{0,30}\brembours\w*",
        r"\brembourse[rz]?[- ]moi\b",
        r"\b(?:demande|exige) (?:de |d'un |un )?remboursement\b",
        r"\bmon remboursement\b",
        r"\b(?:rendez|rends|rendre)[- ]?(?:moi|nous)? ?(?:mon|notre|l') ?argent\b",
        r"\b(?:i want|i need|i demand|i'd like|i would like|i request|give me|requesting|issue)\b.{0,20}\brefund",
        r"\brefund me\b",
        r"\bmy refund\b",
        r"\b(?:want|demand|need|get)\b.{0,10}\bmy money back\b",
    ]
)
DISPUTE = _any(
    [
        r"\blitiges?\b",
        r"\bcontest\w*\b",
        r"\bchargebacks?\b",
        r"\bcharge back\b",
        r"\bdisput\w*\b",
        r"\bdebit (?:non autorise|frauduleux|injustifie)",
        r"\b(?:unauthori[sz]ed|fraudulent) (?:charge|debit|payment)s?\b",
    ]
)
COMPLAINT = _any(
    [
        r"\breclamation officielle\b",
        r"\bplaintes?\b",
        r"\b(?:deposer|faire|porter|ouvrir|formuler) (?:une )?reclamation\b",
        r"\b(?:mediateur|mediation|avocats?|dgccrf|que choisir|ufc|association de consommateurs|tribunal|justice)\b",
        r"\bformal complaint\b",
        r"\b(?:file|make|lodge|submit|raise|open)\b.{0,12}\bcomplaint\b",
        r"\b(?:i want to|i wish to|i'd like to|i would like to|i will|i'm going to) complain\b",
        r"\b(?:ombudsman|lawyers?|attorney|legal action|sue you|small claims)\b",
    ]
)

# Negative sentiment lexicon: normalised word or phrase -> weight. 3 = enough alone (insults, "inadmissible",
# "furious"), 2 = strong, 1 = mild.
NEGATIVE_LEXICON: dict[str, int] = {
    # French
    "putain": 3, "merde": 3, "bordel": 3, "connard": 3, "connards": 3, "connasse": 3, "encule": 3, "encules": 3,
    "enfoire": 3, "enfoires": 3, "salaud": 3, "salauds": 3, "salopards": 3, "escroc": 3, "escrocs": 3,
    "escroquerie": 2, "arnaque": 2, "arnaqueurs": 3, "voleurs": 3, "voleur": 2, "inadmissible": 3,
    "scandaleux": 3, "scandaleuse": 3, "scandale": 3, "honteux": 3, "honteuse": 3, "inacceptable": 3,
    "furieux": 3, "furieuse": 3, "exaspere": 3, "exasperee": 3, "ras le bol": 3, "ras-le-bol": 3, "foutage": 3,
    "vous foutez": 3, "se fout": 3, "foutre": 2, "j'en ai marre": 2, "marre": 2, "lamentable": 2, "minable": 2,
    "incompetents": 2, "incompetent": 2, "incompetence": 2, "honte": 2, "menteurs": 2, "degoute": 2, "degoutee": 2,
    "nuls": 2, "catastrophique": 2, "pitoyable": 2, "insupportable": 2, "intolerable": 2, "colere": 2,
    "enerve": 2, "enervee": 2, "decu": 1, "decue": 1, "pire": 1, "nul": 1, "n'importe quoi": 2, "ridicule": 1,
    "catastrophe": 1, "abuse": 1, "abusez": 2, "incroyable": 1, "inutile": 1,
    # English
    "fuck": 3, "fucking": 3, "fucked": 3, "shit": 3, "bullshit": 3, "wtf": 3, "asshole": 3, "bastards": 3,
    "scam": 2, "scammers": 3, "thieves": 3, "rip-off": 3, "ripoff": 3, "outrageous": 3, "unacceptable": 3,
    "disgraceful": 3, "disgusting": 3, "furious": 3, "livid": 3, "pissed": 3, "fed up": 2, "sick of": 2,
    "pathetic": 2, "ridiculous": 2, "appalling": 2, "shameful": 2, "angry": 2, "damn": 2,
    "crap": 2, "liars": 2, "useless": 1, "worst": 1, "terrible": 1, "horrible": 1, "awful": 1, "disappointed": 1,
}  # fmt: skip
NEGATIVE_EMOJIS = frozenset("😡🤬😠💢👎💩😤🖕")
_LEXICON_RE = re.compile(
    r"(?<![\w'])(" + "|".join(re.escape(k) for k in sorted(NEGATIVE_LEXICON, key=len, reverse=True)) + r")(?![\w'])"
)


@dataclass(frozen=True)
class Sentiment:
    """Negative-sentiment evidence: ``lexicon`` (sum of the words' weights) + ``intensity`` (capitals,
    exclamation marks, angry emojis)."""

    lexicon: int
    intensity: int

    @property
    def score(self) -> int:
        return self.lexicon + self.intensity


def negative_sentiment(text: str) -> Sentiment:
    norm = normalise(text)
    lexicon = sum(NEGATIVE_LEXICON[m.group(1)] for m in _LEXICON_RE.finditer(norm))
    intensity = 0
    letters = [c for c in text if c.isalpha()]
    if len(letters) >= 8 and sum(c.isupper() for c in letters) >= 0.7 * len(letters):
        intensity += 2  # shouting
    if re.search(r"[!?]*![!?]*![!?]*", text):
        intensity += 2 if re.search(r"!{3,}|(?:[!?]\s*){4,}", text) else 1
    intensity += min(2, sum(c in NEGATIVE_EMOJIS for c in text))
    return Sentiment(lexicon=lexicon, intensity=intensity)


@dataclass(frozen=True)
class Escalation:
    reason: str
    category: str | None
    priority: str


# "Until what time can I talk to someone?" asks about opening hours, not for a human now.
_ASKS_WHEN = re.compile(
    r"\b(?:what time|until when|till when|when can|a quelle heure|jusqu'?a quelle heure|quand|horaires?)\b"
)


def asks_for_human(text: str, norm: str) -> bool:
    if HUMAN_REQUEST.search(norm):
        return not _ASKS_WHEN.search(norm)
    tokens = [w for w in content_words(norm) if w not in _POLITE]
    return bool(tokens) and len(tokens) <= 3 and any(t in _HUMAN_ALONE for t in tokens) and len(words(norm)) <= 6


def is_affirmative(norm: str) -> bool:
    """A short yes (« oui », « ok svp », "yes please"): the answer to the bot's « shall I get you a human? »."""
    tokens = words(norm)
    return 0 < len(tokens) <= 4 and tokens[0] in _AFFIRMATIVE and all(t in _AFFIRMATIVE or len(t) <= 2 for t in tokens)


def escalation_for(text: str, *, negative_threshold: int, urgent_threshold: int) -> Escalation | None:
    """The first escalation rule ``text`` triggers, in the order of the contract's reasons, or None.
    ``human_request`` gets no category here (the caller guesses the topic)."""
    norm = normalise(text)
    specific = _specific_escalation(text, norm, negative_threshold, urgent_threshold)
    if asks_for_human(text, norm):
        # « je veux un conseiller pour résilier »: the request for a human, with the ticket of what it is about
        if specific is not None:
            return Escalation("human_request", specific.category, specific.priority)
        return Escalation("human_request", None, "MEDIUM")
    return specific


def _specific_escalation(text: str, norm: str, negative_threshold: int, urgent_threshold: int) -> Escalation | None:
    sentiment = negative_sentiment(text)
    for reason, pattern in (
        ("cancellation", CANCELLATION),
        ("refund", REFUND),
        ("dispute", DISPUTE),
        ("complaint", COMPLAINT),
    ):
        if pattern.search(norm):
            category, priority = REASON_TICKET[reason]
            return Escalation(reason, category, "URGENT" if sentiment.score >= urgent_threshold else priority)
    if sentiment.score >= negative_threshold:
        category, priority = REASON_TICKET["negative_sentiment"]
        return Escalation("negative_sentiment", category, "URGENT" if sentiment.score >= urgent_threshold else priority)
    return None


# Topic words -> ticket category, for escalations without a category of their own (human request, bot failures).
_TOPICS: list[tuple[str, re.Pattern[str]]] = [
    ("billing", re.compile(r"\b(?:factur\w*|paiement\w*|payer|preleve\w*|prelevement|rib|cb|carte bancaire|"
                           r"bill\w*|invoice\w*|payment\w*|charged?|debit\w*|montant|euros?|€)")),
    ("activation", re.compile(r"\b(?:activ\w*|sim|esim|puk|portabilite|rio)\b")),
    ("technical", re.compile(r"\b(?:box|wi-?fi|internet|reseau|network|panne|connexion|debit|fibre|4g|5g|tv|"
                             r"decodeur|signal|bug|marche pas|fonctionne pas|not working|outage)\b")),
    ("plan", re.compile(r"\b(?:forfait|option|offre|plan|data|go|roaming|itinerance|abonnement)\b")),
    ("assistance", re.compile(r"\b(?:commande|colis|livraison|order|parcel|delivery|compte|account|mot de passe|"
                              r"password)\b")),
]  # fmt: skip


def guess_category(text: str) -> str:
    """A ticket category slug for ``text`` by topic words; "general" when none."""
    norm = normalise(text)
    for slug, pattern in _TOPICS:
        if pattern.search(norm):
            return slug
    return "general"


# Extra language evidence for short messages, where `detect_language`'s markers are often absent ("talk to a
# human", "where is my parcel").
_EN_EXTRA = frozenset(
    "to a an of in on can how what where when why do does it me want need your my our get got is there any "
    "which who could would should will from at".split()
)
_FR_EXTRA = frozenset(
    "un de du au aux en et est comment quoi pourquoi quand veux voudrais mon ma mes ai suis peux puis-je "
    "c'est j'ai ça ou où qui quel quelle sont faire".split()
)


def language_of(text: str, earlier: tuple[str, ...] | list[str] = ()) -> str:
    """ "fr" or "en" for the customer's ``text``: `apps.ai.local.text.detect_language`'s evidence plus more function
    words; when ``text`` itself is undecided (a greeting, an emoji), the customer's ``earlier`` messages decide;
    French when still undecided."""
    from apps.ai.local.text import detect_language

    for candidate in (text, " ".join(earlier)):
        tokens = words(candidate.lower().replace("’", "'"))
        en = sum(t in _EN_EXTRA for t in tokens)
        fr = sum(t in _FR_EXTRA for t in tokens)
        base = detect_language(candidate)
        if base == "en":
            en += 2
        elif any(t in {"bonjour", "merci", "salut", "bonsoir"} for t in tokens) or any(
            c in candidate for c in "éèêàçù"
        ):
            fr += 2
        if en > fr:
            return "en"
        if fr > en:
            return "fr"
        if tokens and tokens[0] in {"hi", "hello", "hey", "thanks", "bye", "goodbye", "thx"}:
            return "en"
    return "fr"
