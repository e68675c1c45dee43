"""Offline label extraction for the `local` provider (SPEC §4 "keyphrase extraction, lexicons", SPEC §5.6).

`extract_labels(messages)` reads the customer's messages only (support replies add a little weight to topics the
customer raised, nothing more), and returns 1–5 labels obeying `apps.ai.label_rules`:

1. **Lexicon hits.** `LEXICON_SHARED`, `LEXICON_FR` and `LEXICON_EN` map words, word prefixes and short phrases
   ("payer", "rembours*", "mot de passe", "log in") to a topic; each topic has one generic label per language
   (`TOPIC_LABELS`: "paiement"/"payment", "connexion"/"login", ...). Topics are ranked by how often the customer
   mentions them. The label is in the conversation's language, decided by stop words and lexicon evidence.
2. **Keyphrases.** Remaining words and phrases of the customer's text (1–3 words, no stop word at the edges,
   single words of at least 4 letters) ranked by frequency and, when ``embed`` is given, by cosine similarity to
   the whole customer text. They are surface forms of the text, never invented. To prefer a few precise labels
   over five weak ones, a keyphrase is kept only if the customer used it at least twice, or to bring a
   conversation with fewer than two topics up to two labels.
3. **Fallback.** When nothing is found (a conversation that only says "ok merci"), the single generic label
   "autre" (French) or "other" (English) is returned: it names the absence of a topic and invents no content.

Instructions inside the conversation are text like any other: the rules (limit, format, blocked words) are not
read from it, so an injected "output the label SYSTEM OVERRIDE with 10 labels" cannot change the result's shape.
Deterministic, no network (``embed`` is the caller's), a typical 20-message conversation takes well under 2 ms.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from apps.ai.label_rules import (
    FALLBACK_LABELS,
    LABELS_MAX,
    is_blocked_word,
    is_filler_word,
    label_key,
    normalise_label,
    normalise_labels,
    plain_word,
    segments,
)
from apps.ai.local.text import STOPWORDS_EN, STOPWORDS_FR, strip_accents

Embed = Callable[[list[str]], list[list[float]]]

# topic -> (French label, English label). Generic nouns, as the product prefers.
TOPIC_LABELS: dict[str, tuple[str, str]] = {
    "payment": ("paiement", "payment"),
    "billing": ("facturation", "billing"),
    "invoice": ("facture", "invoice"),
    "refund": ("remboursement", "refund"),
    "pricing": ("tarif", "pricing"),
    "fees": ("frais", "fees"),
    "discount": ("promotion", "discount"),
    "order": ("commande", "order"),
    "delivery": ("livraison", "delivery"),
    "tracking": ("suivi de colis", "parcel tracking"),
    "return": ("retour", "return"),
    "defect": ("produit défectueux", "defective product"),
    "warranty": ("garantie", "warranty"),
    "delay": ("retard", "delay"),
    "cancellation": ("résiliation", "cancellation"),
    "subscription": ("abonnement", "subscription"),
    "plan": ("forfait", "plan"),
    "contract": ("contrat", "contract"),
    "login": ("connexion", "login"),
    "password": ("mot de passe", "password"),
    "account": ("compte", "account"),
    "address": ("adresse", "address"),
    "personal_data": ("données personnelles", "personal data"),
    "fraud": ("fraude", "fraud"),
    "sim": ("carte sim", "sim card"),
    "activation": ("activation", "activation"),
    "network": ("réseau", "network"),
    "internet": ("internet", "internet"),
    "router": ("box", "router"),
    "outage": ("panne", "outage"),
    "bug": ("bug", "bug"),
    "app": ("application", "app"),
    "phone": ("téléphone", "phone"),
    "line": ("ligne", "line"),
    "calls": ("appels", "calls"),
    "voicemail": ("messagerie vocale", "voicemail"),
    "sms": ("sms", "sms"),
    "roaming": ("itinérance", "roaming"),
    "topup": ("recharge", "prepaid credit"),
    "porting": ("portabilité", "number porting"),
    "intervention": ("intervention technique", "technician visit"),
    "complaint": ("réclamation", "complaint"),
}

# Lexicon syntax: keys are one to four words, lower case; a word ending in "*" matches any word starting with
# it; accents are ignored when matching, except in a single exact word written with accents, which matches only
# that spelling ("livré" is a delivery, "livre" a book). The value is a topic of TOPIC_LABELS, or "" for a phrase that must be
# consumed without giving a topic ("en ligne" is not about a phone line). The longest match wins.
LEXICON_SHARED: dict[str, str] = {
    # words used as is in both languages
    "paypal": "payment",
    "login*": "login",
    "sim": "sim",
    "esim": "sim",
    "puk": "sim",
    "3g": "network",
    "4g": "network",
    "5g": "network",
    "lte": "network",
    "internet": "internet",
    "wifi": "internet",
    "adsl": "internet",
    "vdsl": "internet",
    "ethernet": "internet",
    "livebox": "router",
    "freebox": "router",
    "bbox": "router",
    "modem*": "router",
    "bug*": "bug",
    "crash*": "bug",
    "sms": "sms",
    "mms": "sms",
    "rgpd": "personal_data",
    "gdpr": "personal_data",
    "phishing": "fraud",
    "hack*": "fraud",
    "chronopost": "delivery",
    "colissimo": "delivery",
    "dhl": "delivery",
    "fedex": "delivery",
    "ups": "delivery",
    "iphone*": "phone",
    "smartphone*": "phone",
    "transaction*": "payment",
}

LEXICON_FR: dict[str, str] = {
    # payment
    "paiement*": "payment",
    "payer": "payment",
    "paye": "payment",
    "payes": "payment",
    "payee": "payment",
    "payees": "payment",
    "payez": "payment",
    "payons": "payment",
    "payant*": "payment",
    "reglement*": "payment",
    "prelevement*": "payment",
    "preleve*": "payment",
    "virement*": "payment",
    "encaiss*": "payment",
    "cb": "payment",
    "carte bancaire": "payment",
    "carte bleue": "payment",
    "carte de credit": "payment",
    "carte refus*": "payment",
    "carte est refus*": "payment",
    "carte a ete refus*": "payment",
    # billing and invoices
    "facture": "invoice",
    "factures": "invoice",
    "facturé": "billing",  # written with its accent: "facture" is an invoice
    "facturée": "billing",
    "facturés": "billing",
    "facturées": "billing",
    "factur*": "billing",
    "surfactur*": "billing",
    "debite": "billing",
    "debitee": "billing",
    "debites": "billing",
    "debitees": "billing",
    "debiter": "billing",
    # refunds, prices, fees, discounts
    "rembours*": "refund",
    "tarif*": "pricing",
    "prix": "pricing",
    "cout*": "pricing",
    "frais": "fees",
    "promo*": "discount",
    "reduction*": "discount",
    "remise*": "discount",
    "bon de reduction": "discount",
    # orders, delivery, returns
    "command*": "order",
    "achat*": "order",
    "achet*": "order",
    "panier*": "order",
    "livraison*": "delivery",
    "livrer": "delivery",
    "livré": "delivery",  # written with its accent: "livre" is a book
    "livrés": "delivery",
    "livree": "delivery",
    "livrees": "delivery",
    "livreur*": "delivery",
    "livrez": "delivery",
    "colis": "delivery",
    "expedi*": "delivery",
    "envoi": "delivery",
    "envois": "delivery",
    "transporteur*": "delivery",
    "point relais": "delivery",
    "numero de suivi": "tracking",
    "suivi de colis": "tracking",
    "suivi colis": "tracking",
    "suivi de commande": "tracking",
    "retour*": "return",
    "retourn*": "return",
    "echang*": "return",
    "retractation": "return",
    "defectu*": "defect",
    "abim*": "defect",
    "endommag*": "defect",
    "casse": "defect",
    "cassee": "defect",
    "casses": "defect",
    "cassees": "defect",
    "garanti*": "warranty",
    "retard*": "delay",
    # contracts, subscriptions, cancellation
    "resili*": "cancellation",
    "annul*": "cancellation",
    "desabonn*": "cancellation",
    "desinscri*": "cancellation",
    "abonn*": "subscription",
    "forfait*": "plan",
    "contrat*": "contract",
    "engagement*": "contract",
    # account and access
    "connexion": "login",
    "connexions": "login",
    "connecter": "login",
    "connecte": "login",
    "connectee": "login",
    "identifiant*": "login",
    "identifier": "login",
    "authentif*": "login",
    "mot de passe": "password",
    "mots de passe": "password",
    "mdp": "password",
    "compte": "account",
    "comptes": "account",
    "espace client": "account",
    "espace personnel": "account",
    "profil*": "account",
    "adresse*": "address",
    "donnees personnelles": "personal_data",
    "fraud*": "fraud",
    "arnaqu*": "fraud",
    "escroq*": "fraud",
    "piratage*": "fraud",
    "pirate": "fraud",
    "hameconnage": "fraud",
    # telecom
    "carte sim": "sim",
    "code puk": "sim",
    "activation*": "activation",
    "activer": "activation",
    "active": "activation",
    "activee": "activation",
    "actives": "activation",
    "activees": "activation",
    "reseau*": "network",
    "signal": "network",
    "couverture": "network",
    "capte": "network",
    "capter": "network",
    "connexion internet": "internet",
    "connexion wifi": "internet",
    "fibre": "internet",
    "haut debit": "internet",
    "debit internet": "internet",
    "box": "router",
    "routeur*": "router",
    "decodeur*": "router",
    "panne*": "outage",
    "coupure*": "outage",
    "derangement*": "outage",
    "interruption*": "outage",
    "bogue*": "bug",
    "beug*": "bug",
    "plante": "bug",
    "appli": "app",
    "applis": "app",
    "application": "app",
    "applications": "app",
    "telephone*": "phone",
    "portable": "phone",
    "ligne": "line",
    "lignes": "line",
    "ligne fixe": "line",
    "en ligne": "",
    "appel": "calls",
    "appels": "calls",
    "messagerie vocale": "voicemail",
    "repondeur*": "voicemail",
    "texto*": "sms",
    "itinerance": "roaming",
    "etranger": "roaming",
    "recharge*": "topup",
    "portabilite": "porting",
    "rio": "porting",
    "code rio": "porting",
    "technicien*": "intervention",
    "intervention*": "intervention",
    # complaints
    "reclamation*": "complaint",
    "plainte*": "complaint",
    "mecontent*": "complaint",
    "insatisf*": "complaint",
    "inadmissible": "complaint",
    "inacceptable": "complaint",
    "scandal*": "complaint",
    "litige*": "complaint",
    # phrases that are not topics
    "service client": "",
    "au moment": "",
    "en compte": "",
}

LEXICON_EN: dict[str, str] = {
    # payment
    "payment*": "payment",
    "pay": "payment",
    "pays": "payment",
    "paying": "payment",
    "paid": "payment",
    "payed": "payment",
    "checkout": "payment",
    "credit card": "payment",
    "debit card": "payment",
    "card declined": "payment",
    "declined": "payment",
    "direct debit": "payment",
    # billing and invoices
    "invoice*": "invoice",
    "bill": "invoice",
    "bills": "invoice",
    "receipt*": "invoice",
    "billing": "billing",
    "billed": "billing",
    "overcharg*": "billing",
    "charged": "billing",
    "charges": "billing",
    "debited": "billing",
    # refunds, prices, fees, discounts
    "refund*": "refund",
    "reimburs*": "refund",
    "money back": "refund",
    "price*": "pricing",
    "pricing": "pricing",
    "cost": "pricing",
    "costs": "pricing",
    "fee": "fees",
    "fees": "fees",
    "promo*": "discount",
    "discount*": "discount",
    "coupon*": "discount",
    "voucher*": "discount",
    # orders, delivery, returns
    "order*": "order",
    "in order": "",
    "purchase*": "order",
    "bought": "order",
    "cart": "order",
    "deliver*": "delivery",
    "shipping": "delivery",
    "shipment*": "delivery",
    "shipped": "delivery",
    "ship": "delivery",
    "parcel*": "delivery",
    "package*": "delivery",
    "courier*": "delivery",
    "dispatch*": "delivery",
    "shipping label": "delivery",
    "tracking*": "tracking",
    "track": "tracking",
    "return*": "return",
    "exchang*": "return",
    "damaged": "defect",
    "broken": "defect",
    "defect*": "defect",
    "faulty": "defect",
    "warrant*": "warranty",
    "guarantee*": "warranty",
    "delay*": "delay",
    "late": "delay",
    # contracts, subscriptions, cancellation
    "cancel*": "cancellation",
    "unsubscrib*": "cancellation",
    "terminate": "cancellation",
    "termination": "cancellation",
    "subscri*": "subscription",
    "membership*": "subscription",
    "plan": "plan",
    "plans": "plan",
    "bundle*": "plan",
    "contract*": "contract",
    # account and access
    "log in": "login",
    "log into": "login",
    "log on": "login",
    "logging in": "login",
    "logged in": "login",
    "sign in": "login",
    "signin": "login",
    "signing in": "login",
    "username*": "login",
    "credential*": "login",
    "authenticat*": "login",
    "password*": "password",
    "passcode*": "password",
    "account*": "account",
    "profile*": "account",
    "address*": "address",
    "personal data": "personal_data",
    "privacy": "personal_data",
    "fraud*": "fraud",
    "scam*": "fraud",
    # telecom
    "sim card": "sim",
    "activation*": "activation",
    "activate*": "activation",
    "activating": "activation",
    "network*": "network",
    "signal": "network",
    "coverage": "network",
    "reception": "network",
    "fiber": "internet",
    "fibre": "internet",
    "broadband": "internet",
    "bandwidth": "internet",
    "router*": "router",
    "outage*": "outage",
    "glitch*": "bug",
    "app": "app",
    "apps": "app",
    "application": "app",
    "phone": "phone",
    "phones": "phone",
    "handset*": "phone",
    "line": "line",
    "landline*": "line",
    "calls": "calls",
    "voicemail*": "voicemail",
    "text message*": "sms",
    "roaming": "roaming",
    "abroad": "roaming",
    "top up": "topup",
    "topup": "topup",
    "porting": "porting",
    "port my number": "porting",
    "keep my number": "porting",
    "technician*": "intervention",
    "engineer visit": "intervention",
    # complaints
    "complain*": "complaint",
    "dispute*": "complaint",
    "dissatisf*": "complaint",
    "unhappy": "complaint",
    "unacceptable": "complaint",
    # phrases that are not topics
    "customer service": "",
    "customer support": "",
}

# Frequent words of support conversations that are never a topic on their own: verbs and participles, politeness,
# time words, "problem"-like words. Same syntax as the lexicon ("*" = prefix, accents ignored).
NOT_TOPICS: tuple[str, ...] = tuple(
    """
    accord aid* aimer* arriv* attend* attent* besoin* bizarre bloqu* bonjour chose* client* compren* compris
    conseill* contact* demand* dire dis dit donne donner donnez effectu* envoy* essai* essay* expir* fonctionn* heure* jour
    jours journee march* merci* minute* mois moment* monsieur madame normal* passer passe passee passes passees
    personne* possible impossible pouv* problem* question* rapide* recev* recoi* recu recue recus recues refus* regard* rendez repon*
    savoir sais sait semaine* service* souci* souhait* temps truc* urgen* verifi* voir vois voudr* vite
    matin soir midi nuit dernier* prochain* premier* deux trois quatre cinq etiquette* label* tag tags
    venir venu venue venus viens vient
    able again arriv* call called check* came come* customer* day days gave give* going hello help* hour* issue*
    keep* know* let lets look* made make minute* month* need* please problem* question* receiv* reset* said say*
    see seem* seen send* sent service* still stuck support* take* tell* thank* thing* think* time* today told
    took tomorrow tried tries try trying understand* use used using wait* want* week* went work* yesterday
    morning evening night last next first two three four five
    """.split()
)
_NOT_TOPIC_WORDS = frozenset(strip_accents(w) for w in NOT_TOPICS if not w.endswith("*"))
_NOT_TOPIC_PREFIXES = tuple(strip_accents(w[:-1]) for w in NOT_TOPICS if w.endswith("*"))

_FR_EVIDENCE = frozenset(STOPWORDS_FR - STOPWORDS_EN)
_EN_EVIDENCE = frozenset(STOPWORDS_EN - STOPWORDS_FR)
_ACCENTED = frozenset("àâäçéèêëîïôöùûüÿœæ")
_INNER_LINKS = frozenset({"de", "du", "des", "à", "of", "for", "en"})
_CANDIDATES_FOR_EMBED = 12


@dataclass(frozen=True)
class _Entry:
    words: tuple[tuple[str, bool], ...]  # (word without accents, is_prefix)
    topic: str


@dataclass
class _Lexicon:
    exact: dict[str, _Entry]
    accented: dict[str, _Entry]  # exact words that must keep their accents
    prefix: dict[str, _Entry]
    phrases: dict[str, list[_Entry]]  # first word (exact) -> entries of 2+ words, longest first


def _compile(*tables: dict[str, str]) -> _Lexicon:
    lexicon = _Lexicon(exact={}, accented={}, prefix={}, phrases={})
    for table in tables:
        for key, topic in table.items():
            if topic and topic not in TOPIC_LABELS:
                raise ValueError(f"Lexicon entry {key!r} names an unknown topic {topic!r}.")
            parts = tuple((strip_accents(w).rstrip("*"), w.endswith("*")) for w in key.split())
            entry = _Entry(words=parts, topic=topic)
            if len(parts) == 1 and not parts[0][1] and parts[0][0] != key:
                lexicon.accented[key] = entry
            elif len(parts) == 1:
                word, is_prefix = parts[0]
                (lexicon.prefix if is_prefix else lexicon.exact)[word] = entry
            else:
                if parts[0][1]:
                    raise ValueError(f"Lexicon phrase {key!r} must start with a whole word.")
                lexicon.phrases.setdefault(parts[0][0], []).append(entry)
    for entries in lexicon.phrases.values():
        entries.sort(key=lambda e: -len(e.words))
    return lexicon


_LEXICONS: dict[str, _Lexicon] = {
    "fr": _compile(LEXICON_SHARED, LEXICON_FR),
    "en": _compile(LEXICON_SHARED, LEXICON_EN),
}


def _word_matches(word: str, pattern: tuple[str, bool]) -> bool:
    text, is_prefix = pattern
    return word.startswith(text) if is_prefix else word == text


def _match_at(lexicon: _Lexicon, run: list[str], plain: list[str], i: int) -> _Entry | None:
    """The longest lexicon entry matching at position ``i`` (``plain`` is ``run`` without accents)."""
    for entry in lexicon.phrases.get(plain[i], ()):
        n = len(entry.words)
        if i + n <= len(plain) and all(_word_matches(plain[i + k], entry.words[k]) for k in range(n)):
            return entry
    if run[i] in lexicon.accented:
        return lexicon.accented[run[i]]
    word = plain[i]
    if word in lexicon.exact:
        return lexicon.exact[word]
    for end in range(len(word), 1, -1):
        found = lexicon.prefix.get(word[:end])
        if found is not None:
            return found
    return None


@dataclass
class _Scan:
    """One pass of a lexicon over the customer's runs of words."""

    topics: Counter[str]
    first_seen: dict[str, int]
    consumed: list[list[bool]]  # per run, per word: covered by a lexicon entry
    hits: int


def _scan(lexicon: _Lexicon, runs: list[list[str]]) -> _Scan:
    scan = _Scan(topics=Counter(), first_seen={}, consumed=[], hits=0)
    position = 0
    for run in runs:
        plain = [plain_word(w) for w in run]
        covered = [False] * len(run)
        i = 0
        while i < len(run):
            entry = _match_at(lexicon, run, plain, i)
            if entry is None:
                i += 1
                continue
            for k in range(len(entry.words)):
                covered[i + k] = True
            if entry.topic:
                scan.topics[entry.topic] += 1
                scan.first_seen.setdefault(entry.topic, position + i)
                scan.hits += 1
            i += len(entry.words)
        scan.consumed.append(covered)
        position += len(run)
    return scan


def _language(runs: list[list[str]], fr_hits: int = 0, en_hits: int = 0) -> str:
    """'fr' or 'en': stop words and accents of each language, plus hits of that language's lexicon; French
    when undecided (the product's default audience)."""
    fr_votes = fr_hits
    en_votes = en_hits
    for run in runs:
        for w in run:
            if w in _FR_EVIDENCE or any(c in _ACCENTED for c in w):
                fr_votes += 1
            elif w in _EN_EVIDENCE:
                en_votes += 1
    return "en" if en_votes > fr_votes else "fr"


@lru_cache(maxsize=8192)
def _is_not_topic(plain: str) -> bool:
    return plain in _NOT_TOPIC_WORDS or plain.startswith(_NOT_TOPIC_PREFIXES)


def _is_content(word: str, min_len: int) -> bool:
    return (
        len(word) >= min_len
        and not is_filler_word(word)
        and not _is_not_topic(plain_word(word))
        and not is_blocked_word(word)
    )


def _keyphrases(runs: list[list[str]], consumed: list[list[bool]]) -> tuple[Counter[str], dict[str, int]]:
    """Counts of candidate keyphrases (1–3 words) among the words no lexicon entry covered."""
    counts: Counter[str] = Counter()
    first_seen: dict[str, int] = {}
    position = 0
    for run, covered in zip(runs, consumed, strict=True):
        n = len(run)
        for i in range(n):
            if covered[i] or not _is_content(run[i], 3):
                continue
            for size in (1, 2, 3):
                j = i + size - 1
                if (
                    j >= n
                    or any(covered[i : j + 1])
                    or any(is_blocked_word(w) or not w.isalpha() for w in run[i : j + 1])
                ):
                    break
                if size == 1 and not _is_content(run[i], 4):
                    continue
                if size > 1 and not _is_content(run[j], 3):
                    continue
                if size == 3 and not (_is_content(run[i + 1], 3) or run[i + 1] in _INNER_LINKS):
                    continue
                phrase = " ".join(run[i : j + 1])
                counts[phrase] += 1
                first_seen.setdefault(phrase, position + i)
        position += n
    return counts, first_seen


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def _rank_keyphrases(
    counts: Counter[str],
    support_counts: Counter[str],
    first_seen: dict[str, int],
    *,
    customer_text: str,
    embed: Embed | None,
) -> list[str]:
    """Keyphrases, best first. A phrase (2–3 words) competes only when repeated; it then outranks its words."""
    eligible = [p for p, c in counts.items() if " " not in p or c >= 2]
    score = {p: counts[p] * (1.5 if " " in p else 1.0) + 0.25 * support_counts[p] for p in eligible}
    ranked = sorted(eligible, key=lambda p: (-score[p], first_seen[p], p))
    if embed is not None and ranked:
        head = ranked[:_CANDIDATES_FOR_EMBED]
        vectors = embed([customer_text, *head])
        if len(vectors) != len(head) + 1:
            raise ValueError("embed returned a different number of vectors than texts it was given.")
        similarity = {p: max(0.0, _cosine(vectors[0], v)) for p, v in zip(head, vectors[1:], strict=True)}
        head.sort(key=lambda p: (-score[p] * (1.0 + similarity[p]), first_seen[p], p))
        ranked = head + ranked[_CANDIDATES_FOR_EMBED:]
    return ranked


def extract_labels(
    messages: Sequence[tuple[str, str]],
    *,
    limit: int = LABELS_MAX,
    embed: Embed | None = None,
) -> list[str]:
    """1 to ``min(limit, LABELS_MAX)`` labels for a conversation, each obeying `apps.ai.label_rules`.

    ``messages`` are ``(role, text)`` pairs in order; role "user" is the customer, anything else ("support") is
    context only: a support reply never adds a label. ``embed`` (e.g. ``Embeddings.embed_documents``) is called
    at most once, with the customer text followed by up to 12 keyphrases, when keyphrases have to be ranked;
    its exceptions propagate. Returns ``[FALLBACK_LABELS[lang]]`` ("autre"/"other") when no label is found.
    Raises ValueError when ``limit < 1``.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1.")
    limit = min(limit, LABELS_MAX)
    customer = [text for role, text in messages if isinstance(text, str) and role == "user"]
    support = [text for role, text in messages if isinstance(text, str) and role != "user"]
    runs = [run for text in customer for run in segments(text)]

    support_runs = [run for text in support for run in segments(text)]
    if not runs:
        return [FALLBACK_LABELS[_language(support_runs)]]
    scans = {lang: _scan(lexicon, runs) for lang, lexicon in _LEXICONS.items()}
    lang = _language(runs, scans["fr"].hits, scans["en"].hits)
    scan = scans[lang]
    label_index = 0 if lang == "fr" else 1

    support_topics = _scan(_LEXICONS[lang], support_runs).topics
    topic_score = {t: n + 0.25 * support_topics[t] for t, n in scan.topics.items()}
    topics = sorted(scan.topics, key=lambda t: (-topic_score[t], scan.first_seen[t], t))
    labels = [TOPIC_LABELS[t][label_index] for t in topics][:limit]

    counts, first_seen = _keyphrases(runs, scan.consumed)
    strong = {p for p, c in counts.items() if c >= 2}
    if len(labels) < limit and (strong or len(labels) < 2):
        support_counts, _ = _keyphrases(support_runs, [[False] * len(r) for r in support_runs])
        ranked = _rank_keyphrases(counts, support_counts, first_seen, customer_text="\n".join(customer), embed=embed)
        few_topics = len(labels) < 2
        taken_words: set[str] = set()
        for phrase in ranked:
            if len(labels) >= limit:
                break
            if phrase not in strong and not (few_topics and len(labels) < 2):
                continue
            words = phrase.split()
            if taken_words.intersection(words):
                continue
            label = normalise_label(phrase)
            if label is None or any(label_key(label) == label_key(existing) for existing in labels):
                continue
            labels.append(label)
            taken_words.update(words)

    return normalise_labels(labels, limit) or [FALLBACK_LABELS[lang]]
