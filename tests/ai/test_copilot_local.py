"""The copilot with the offline `local` provider (apps/ai/copilot.py, apps/ai/local/copilot.py; SPEC §7): what an
agent and a supervisor see — grounded reply variants streamed in pieces with citations, questions that fit the
request, signals, priority, trend, silence, and the per-conversation analytics on a small labelled set (FR + EN)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from apps.ai.copilot import analytics_infer, signal_label, suggestion_normalise, suggestion_stream, summary_fold
from apps.copilot.types import (
    MAX_QUESTIONS,
    MAX_REPLIES,
    MIN_QUESTIONS,
    MIN_REPLIES,
    PRIORITIES,
    REPLY_MAX_CHARS,
    ContextMessage,
    CopilotContext,
    Delta,
    Done,
    FieldDelta,
    OutputSuggestion,
    Passage,
    ReplyDelta,
)
from tests.conftest import demo_kb_committed

pytestmark = pytest.mark.django_db

DELIVERY = Passage(
    chunk_id=11,
    title="Livraison et suivi de commande",
    url="https://help.example/livraison",
    text=(
        "## Délais de livraison\n"
        "Les commandes sont expédiées sous 24 heures ouvrées. La livraison standard prend 2 à 4 jours ouvrés après "
        "l'expédition.\n\n"
        "Un e-mail de suivi avec le numéro de colis est envoyé dès l'expédition.\n\n"
        "Si votre colis n'est pas arrivé 7 jours après l'expédition, contactez le service client : nous ouvrons une "
        "enquête auprès du transporteur et renvoyons la commande si le colis est perdu."
    ),
    similarity=0.52,
)
RETURNS = Passage(
    chunk_id=12,
    title="Retours et remboursements",
    url="https://help.example/retours",
    text=(
        "Vous pouvez retourner un produit sous 14 jours après réception. Le remboursement est effectué sur le moyen "
        "de paiement d'origine sous 10 jours après réception du retour."
    ),
    similarity=0.31,
)
ROAMING = Passage(
    chunk_id=21,
    title="5G and roaming",
    url="https://help.example/5g",
    text=(
        "5G roaming is included in every plan in the European Union. Outside the EU, 5G depends on the partner "
        "network of the country. To use 5G abroad, enable data roaming in your phone settings."
    ),
    similarity=0.48,
)
CANCEL = Passage(
    chunk_id=31,
    title="Résiliation et portabilité",
    url="https://help.example/resiliation",
    text=(
        "Vous pouvez résilier votre forfait à tout moment depuis votre espace client ou par courrier. Sans "
        "engagement, la résiliation prend effet sous 10 jours. Pour garder votre numéro chez un autre opérateur, "
        "demandez votre code RIO au 3179."
    ),
    similarity=0.44,
)


def client(text: str, **kwargs: Any) -> ContextMessage:
    return ContextMessage(speaker="client", text=text, **kwargs)


def agent(text: str) -> ContextMessage:
    return ContextMessage(speaker="agent", text=text)


def run(context: CopilotContext) -> tuple[list[Delta], OutputSuggestion]:
    deltas = list(suggestion_stream(context))
    assert isinstance(deltas[-1], Done)
    assert sum(isinstance(d, Done) for d in deltas) == 1, "Done is the last delta, and the only one"
    return deltas, deltas[-1].suggestion


def assert_valid(suggestion: OutputSuggestion) -> None:
    """OutputSuggestion's rules (apps/copilot/types.py)."""
    assert 0.0 <= suggestion.confidence <= 1.0
    assert suggestion.priority in PRIORITIES
    if suggestion.silent:
        assert suggestion.replies == []
    else:
        assert MIN_REPLIES <= len(suggestion.replies) <= MAX_REPLIES
        assert MIN_QUESTIONS <= len(suggestion.questions) <= MAX_QUESTIONS
        assert all(0 < len(r.text) <= REPLY_MAX_CHARS for r in suggestion.replies)
        assert len({r.text for r in suggestion.replies}) == len(suggestion.replies), "variants differ"


# ----------------------------------------------------------------------------------------------- suggestions


def test_reply_variants_are_grounded_in_the_best_passage_with_its_citation() -> None:
    context = CopilotContext(
        messages=[client("Bonjour, ma commande 4512 n'est pas arrivée, elle a été expédiée il y a 9 jours.")],
        passages=[DELIVERY, RETURNS],
        language="fr",
    )
    _, suggestion = run(context)
    assert_valid(suggestion)
    assert not suggestion.silent
    # The customer's case (parcel late after 7 days) is answered by the delivery article's investigation sentence.
    assert any("enquête auprès du transporteur" in r.text for r in suggestion.replies)
    for reply in suggestion.replies:
        assert reply.citations, "each variant cites its source"
        cited = {c.chunk_id for c in reply.citations}
        assert cited <= {DELIVERY.chunk_id, RETURNS.chunk_id}
        # Every sentence quoted from the knowledge base comes from the cited passage.
    assert suggestion.replies[0].citations[0].chunk_id == DELIVERY.chunk_id
    assert suggestion.replies[0].citations[0].url == DELIVERY.url
    assert all("remboursement" not in r.text.lower() for r in suggestion.replies), "the weaker article is left out"


def test_replies_stream_in_pieces_that_add_up_to_the_final_text() -> None:
    context = CopilotContext(
        messages=[client("Ma commande n'est toujours pas arrivée, que faire ?")], passages=[DELIVERY], language="fr"
    )
    deltas, suggestion = run(context)
    assert not suggestion.silent
    first_reply = [d for d in deltas if isinstance(d, ReplyDelta) and d.index == 0]
    assert len(first_reply) >= 2, "the console fills the first variant in at least two visible steps"
    for index, reply in enumerate(suggestion.replies):
        streamed = "".join(d.text for d in deltas if isinstance(d, ReplyDelta) and d.index == index)
        assert streamed == reply.text
        [citations] = [d for d in deltas if isinstance(d, FieldDelta) and d.name == "citations" and d.index == index]
        assert citations.value == reply.citations
    # Confidence comes before any reply; the other fields after the replies, before Done.
    kinds = [(type(d).__name__, getattr(d, "name", None)) for d in deltas]
    assert kinds[0] == ("FieldDelta", "confidence")
    last_reply = max(i for i, d in enumerate(deltas) if isinstance(d, ReplyDelta))
    fields = {d.name: i for i, d in enumerate(deltas) if isinstance(d, FieldDelta) and d.name != "citations"}
    for name in ("questions", "signals_detected", "recommended_direction", "priority", "next_best_actions"):
        assert fields[name] > last_reply
        assert [d.value for d in deltas if isinstance(d, FieldDelta) and d.name == name] == [getattr(suggestion, name)]


def test_questions_ask_for_what_is_missing_and_not_for_what_was_given() -> None:
    without = CopilotContext(messages=[client("Où en est ma commande ? Toujours rien reçu.")], passages=[DELIVERY])
    with_number = CopilotContext(
        messages=[client("Où en est ma commande n° 88421 ? Toujours rien reçu.")], passages=[DELIVERY]
    )
    _, asked = run(without)
    _, given = run(with_number)
    assert any("numéro de commande" in q for q in asked.questions)
    assert not any("numéro de commande" in q for q in given.questions)
    assert any("88421" in a for a in given.next_best_actions), "the order number is carried into the action"

    box = CopilotContext(messages=[client("Ma box ne se connecte plus à internet.")], passages=[DELIVERY])
    since = CopilotContext(
        messages=[client("Ma box ne se connecte plus à internet depuis lundi.")], passages=[DELIVERY]
    )
    assert any("Depuis quand" in q for q in run(box)[1].questions)
    assert not any("Depuis quand" in q for q in run(since)[1].questions)


def test_questions_fit_number_transfer_and_returns() -> None:
    _, rio = run(
        CopilotContext(messages=[client("Comment obtenir mon code RIO pour changer d'opérateur ?")], passages=[CANCEL])
    )
    assert any("garder votre numéro" in q for q in rio.questions)
    assert not any("carte SIM" in q for q in rio.questions)
    assert signal_label("competitor", "fr") in rio.signals_detected
    _, refund = run(
        CopilotContext(
            messages=[client("How long does a refund take after I return my phone?")], passages=[ROAMING], language="en"
        )
    )
    assert any("order number" in q for q in refund.questions)


def test_list_items_are_written_as_sentences() -> None:
    leds = Passage(
        chunk_id=41,
        title="Voyants de la box",
        url="https://help.example/voyants",
        text="Signification des voyants :\n- rouge fixe : aucun signal sur la fibre, vérifiez le câble ;\n"
        "- blanc fixe : la box est connectée et tout fonctionne ;",
        similarity=0.5,
    )
    _, suggestion = run(CopilotContext(messages=[client("Le voyant de ma box est rouge fixe")], passages=[leds]))
    assert not suggestion.silent
    for reply in suggestion.replies:
        body = reply.text.split(" : ", 1)[-1] if reply.text.startswith("D'après") else reply.text
        assert body[0].isupper(), reply.text
        assert not reply.text.endswith(";")


def test_english_conversation_gets_english_replies_and_questions() -> None:
    context = CopilotContext(
        messages=[client("Hi, will 5G work when I'm roaming in Italy next week?")], passages=[ROAMING], language="en"
    )
    _, suggestion = run(context)
    assert_valid(suggestion)
    assert not suggestion.silent
    assert any("European Union" in r.text for r in suggestion.replies)
    assert any(r.text.startswith("According to our article “5G and roaming”") for r in suggestion.replies)
    assert all(q.endswith("?") and "Pouvez" not in q for q in suggestion.questions)
    assert suggestion.recommended_direction and "the" in suggestion.recommended_direction.lower().split()


def test_angry_cancellation_is_critical_with_churn_signals_and_a_retention_direction() -> None:
    context = CopilotContext(
        messages=[
            client("Bonjour, internet coupe encore ce soir."),
            agent("Je suis désolé, je regarde votre ligne."),
            client("Je veux résilier, c'est scandaleux, 3 pannes ce mois-ci ! Je pars chez Free."),
        ],
        passages=[CANCEL],
        language="fr",
    )
    _, suggestion = run(context)
    assert_valid(suggestion)
    assert suggestion.priority == "critical"
    for slug in ("cancellation", "negative_sentiment", "repeated_issue", "competitor"):
        assert signal_label(slug, "fr") in suggestion.signals_detected
    assert "Rétention" in suggestion.recommended_direction
    assert any("fidélisation" in a for a in suggestion.next_best_actions)
    assert any("résilier" in q for q in suggestion.questions)
    assert suggestion.replies and suggestion.replies[0].text.startswith("Je comprends votre agacement")


def test_neutral_question_is_low_priority_without_churn_signals() -> None:
    context = CopilotContext(messages=[client("Quels sont les délais de livraison ?")], passages=[DELIVERY])
    _, suggestion = run(context)
    assert suggestion.priority == "low"
    assert not {signal_label(s, "fr") for s in ("cancellation", "negative_sentiment", "competitor")} & set(
        suggestion.signals_detected
    )


def test_upgrade_interest_and_hesitation_are_signalled() -> None:
    context = CopilotContext(
        messages=[client("I'm not sure yet, but I'd like more data and maybe upgrade to the 5G plan.")],
        passages=[ROAMING],
        language="en",
    )
    _, suggestion = run(context)
    assert signal_label("upgrade_interest", "en") in suggestion.signals_detected
    assert signal_label("hesitation", "en") in suggestion.signals_detected
    assert suggestion.priority == "medium"


@pytest.mark.parametrize(
    ("messages", "trend"),
    [
        ([client("C'est inadmissible, ma box est encore en panne !"), client("Merci beaucoup, tout marche, parfait.")], "improving"),
        ([client("Bonjour, une question sur ma facture."), client("C'est scandaleux, vous êtes des voleurs !!!")], "declining"),
        ([client("Bonjour, une question sur ma facture."), client("Et quand est-elle envoyée ?")], "stable"),
        ([client("ok"), client("fine", sentiment="negative"), client("thanks", sentiment="positive")], "improving"),
    ],
)  # fmt: skip
def test_sentiment_trend_follows_the_customer_messages(messages: list[ContextMessage], trend: str) -> None:
    _, suggestion = run(CopilotContext(messages=messages, passages=[DELIVERY]))
    assert suggestion.sentiment_trend == trend


# ----------------------------------------------------------------------------------------------- silence


def test_weak_retrieval_is_silent_and_streams_no_reply(settings: Any) -> None:
    settings.COPILOT_MIN_RETRIEVAL = {"default": 0.6}
    context = CopilotContext(messages=[client("Ma commande n'est pas arrivée.")], passages=[DELIVERY, RETURNS])
    deltas, suggestion = run(context)
    assert suggestion.silent and suggestion.replies == []
    assert not any(isinstance(d, ReplyDelta) for d in deltas)
    assert suggestion.confidence < settings.COPILOT_MIN_CONFIDENCE
    assert len(suggestion.questions) >= MIN_QUESTIONS, "the other fields are still useful"

    settings.COPILOT_MIN_RETRIEVAL = {"default": 0.5}
    _, speaking = run(context)
    assert not speaking.silent, "the same conversation speaks once the best passage clears the threshold"


def test_no_passages_is_silent() -> None:
    _, suggestion = run(CopilotContext(messages=[client("Bonjour, j'ai une question.")], passages=[]))
    assert suggestion.silent and suggestion.replies == [] and suggestion.confidence == 0.0


def test_confidence_under_the_minimum_is_silent(settings: Any) -> None:
    context = CopilotContext(messages=[client("Ma commande n'est pas arrivée.")], passages=[DELIVERY])
    _, speaking = run(context)
    settings.COPILOT_MIN_CONFIDENCE = speaking.confidence + 0.01
    _, silent = run(context)
    assert not speaking.silent and silent.silent and silent.replies == []


def test_passages_found_by_full_text_only_are_judged_by_their_best_sentence() -> None:
    text_only = Passage(**{**DELIVERY.__dict__, "similarity": None})
    _, on_topic = run(
        CopilotContext(messages=[client("Mon colis n'est pas arrivé après 7 jours")], passages=[text_only])
    )
    _, off_topic = run(CopilotContext(messages=[client("Quelle est la capitale du Pérou ?")], passages=[text_only]))
    assert not on_topic.silent
    assert off_topic.silent
    assert on_topic.confidence > off_topic.confidence


# ----------------------------------------------------------------------------------------------- normalisation


def test_normalise_enforces_the_output_rules() -> None:
    passages = [DELIVERY, RETURNS]
    raw: dict[str, Any] = {
        "confidence": 1.7,
        "replies": [
            {"text": "  Votre   colis part sous 24 h [1].  ", "sources": [1, 9]},
            {"text": "x" * 900, "citations": [{"title": "T", "url": "u", "chunk_id": 5}]},
            "Un retour est possible sous 14 jours [2]",
            {"text": "Votre colis part sous 24 h."},  # duplicate of the first once cleaned
            {"text": ""},
            {"text": "Quatrième variante"},
        ],
        "questions": ["Quel numéro ?", "Quel numéro ?", "Depuis quand ?", "Quel appareil ?", "Autre ?"],
        "priority": "URGENT",
        "sentiment_trend": "worsening",
        "signals_detected": "hésitation",
    }
    out = suggestion_normalise(raw, passages=passages)
    assert out.confidence == 1.0
    assert out.priority == "critical" and out.sentiment_trend == "declining"
    assert len(out.replies) == MAX_REPLIES
    assert out.replies[0].text == "Votre colis part sous 24 h."
    assert [c.chunk_id for c in out.replies[0].citations] == [DELIVERY.chunk_id]  # [9] is no passage
    assert len(out.replies[1].text) <= REPLY_MAX_CHARS
    assert out.replies[2].citations[0].chunk_id == RETURNS.chunk_id
    assert out.questions == ["Quel numéro ?", "Depuis quand ?", "Quel appareil ?"]
    assert out.signals_detected == ["hésitation"]
    assert not out.silent

    assert suggestion_normalise({**raw, "confidence": "high"}).silent  # not a number: 0
    assert suggestion_normalise({**raw, "confidence": 0.3}).replies == []
    one_reply = suggestion_normalise({**raw, "replies": raw["replies"][:1]}, passages=passages)
    assert one_reply.silent and one_reply.replies == []
    topped = suggestion_normalise({**raw, "questions": ["Quel numéro ?"]}, extra_questions=["Depuis quand ?"])
    assert topped.questions == ["Quel numéro ?", "Depuis quand ?"] and not topped.silent
    assert suggestion_normalise({**raw, "questions": []}).silent, "2 questions are required to speak"
    assert suggestion_normalise({**raw, "priority": "whatever", "sentiment_trend": 3}).priority == "low"


_json = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=500),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=30,
)
_KEYS = ("confidence", "replies", "questions", "priority", "sentiment_trend", "signals_detected", "silent")


@hypothesis_settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    raw=st.dictionaries(st.sampled_from(_KEYS), _json | st.lists(st.text(max_size=600), max_size=6), max_size=7),
    replies=st.lists(
        st.fixed_dictionaries({"text": st.text(max_size=700), "sources": st.lists(st.integers(-2, 5), max_size=3)}),
        max_size=5,
    ),
    confidence=st.floats(allow_nan=True) | st.text(max_size=5),
)
def test_normalise_output_always_obeys_the_rules(raw: dict[str, Any], replies: list[Any], confidence: Any) -> None:
    """Whatever a model answers, what reaches the agent obeys OutputSuggestion's rules."""
    out = suggestion_normalise({"replies": replies, "confidence": confidence, **raw}, passages=[DELIVERY, RETURNS])
    assert_valid(out)
    assert out.sentiment_trend in ("improving", "declining", "stable")
    for reply in out.replies:
        assert {c.chunk_id for c in reply.citations} <= {DELIVERY.chunk_id, RETURNS.chunk_id}
    assert all(isinstance(q, str) and q for q in out.questions)


def test_a_conversation_without_customer_message_is_silent() -> None:
    _, suggestion = run(CopilotContext(messages=[agent("Bonjour, que puis-je pour vous ?")], passages=[DELIVERY]))
    assert suggestion.silent and suggestion.replies == []


# ----------------------------------------------------------------------------------------------- analytics


@dataclass
class Case:
    messages: list[ContextMessage]
    language: str
    intent: str
    churn: tuple[int, int]  # inclusive bounds
    sentiment: str
    emotion: str
    summary_has: tuple[str, ...] = ()


LABELLED: list[Case] = [
    Case([client("je veux résilier, c'est scandaleux, 3 pannes ce mois-ci")], "fr", "cancellation", (81, 100),
         "negative", "anger", ("Résiliation", "3 pannes")),
    Case([client("merci, tout marche")], "fr", "general", (0, 15), "positive", "joy"),
    Case([client("Bonjour, quels sont les délais de livraison pour la commande 55120 ?")], "fr", "assistance",
         (0, 20), "neutral", "neutral", ("55120", "délais de livraison")),
    Case([client("Ma box redémarre toute seule depuis hier soir."), agent("Avez-vous essayé de la débrancher ?"),
          client("Oui, ça ne change rien.")], "fr", "technical", (0, 30), "neutral", "neutral", ("box",)),
    Case([client("Je conteste ce prélèvement de 49,99 € que je n'ai jamais autorisé, c'est inacceptable !")], "fr",
         "dispute", (40, 80), "negative", "anger", ("49,99",)),
    Case([client("I want to cancel my subscription, this is outrageous, the internet went down again today!!!")],
         "en", "cancellation", (81, 100), "negative", "anger", ("Cancellation", "cancel my subscription")),
    Case([client("Thanks a lot, everything works now, perfect.")], "en", "general", (0, 15), "positive", "joy"),
    Case([client("How do I activate my new eSIM?")], "en", "activation", (0, 20), "neutral", "neutral", ("eSIM",)),
    Case([client("I'm not sure, I'm thinking about it, maybe I'll cancel my plan, it's cheaper elsewhere.")], "en",
         "cancellation", (60, 95), "neutral", "uncertain", ("cancel",)),
    Case([client("Where is my order #A-77312? It still hasn't arrived.")], "en", "assistance", (0, 35), "neutral",
         "neutral", ("A-77312",)),
]  # fmt: skip


@pytest.mark.parametrize("case", LABELLED, ids=lambda c: c.messages[-1].text[:40])
def test_analytics_on_the_labelled_set(case: Case) -> None:
    analytics = analytics_infer(CopilotContext(messages=case.messages, language=case.language))
    assert analytics.intent == case.intent
    low, high = case.churn
    assert low <= analytics.churn_risk <= high, analytics.churn_risk
    assert analytics.sentiment == case.sentiment
    assert analytics.emotion == case.emotion
    for fragment in case.summary_has:
        assert fragment in analytics.summary
    assert analytics.next_action
    assert len(analytics.summary) <= 200 and "\n" not in analytics.summary


def test_summary_names_the_order_number_from_an_earlier_message() -> None:
    context = CopilotContext(
        messages=[
            client("Bonjour, c'est pour la commande 4512."),
            agent("Bonjour, je regarde."),
            client("Elle devait arriver lundi et je n'ai toujours rien, c'est inadmissible."),
        ],
        language="fr",
    )
    analytics = analytics_infer(context)
    assert "4512" in analytics.summary
    assert analytics.sentiment == "negative"


def test_churn_ranks_the_conversations_a_supervisor_would_rank() -> None:
    def risk(text: str) -> int:
        return analytics_infer(CopilotContext(messages=[client(text)])).churn_risk

    angry_cancel = risk("Je veux résilier immédiatement, c'est scandaleux, encore une coupure !")
    plain_cancel = risk("Je souhaite résilier mon abonnement.")
    complaint = risk("Ma facture est fausse, c'est inadmissible.")
    question = risk("Comment changer mon mot de passe ?")
    assert angry_cancel > 80 >= plain_cancel > complaint > question


# ----------------------------------------------------------------------------------------------- summary


def test_summary_fold_keeps_the_facts_of_older_messages() -> None:
    first = summary_fold(
        "",
        [
            client("Bonjour, ma commande 4512 de 89 € n'est pas arrivée."),
            agent("Je vérifie le suivi."),
            client("Le transporteur dit que le colis est perdu."),
        ],
        "fr",
    )
    assert "4512" in first or "perdu" in first
    second = summary_fold(first, [client("Je voudrais un renvoi du colis plutôt qu'un remboursement.")], "fr")
    assert "renvoi" in second
    assert first.split(".")[0] in second, "the earlier summary is kept"
    long = first
    for i in range(40):
        long = summary_fold(long, [client(f"Message numéro {i} avec quelques détails sur la livraison.")], "fr")
    assert len(long) <= 600


# ----------------------------------------------------------------------------------------------- demo KB


@pytest.fixture(scope="module")
def demo_kb(django_db_setup: Any, django_db_blocker: Any) -> Iterator[dict[str, str]]:
    """The demo knowledge base (docs/knowledge), ingested and committed for this module. {source file: title}."""
    yield from demo_kb_committed(django_db_blocker)


def _kb_context(text: str, language: str) -> CopilotContext:
    from apps.knowledge.selectors import knowledge_search

    hits = knowledge_search(text, k=5).hits
    passages = [Passage(h.chunk_id, h.document.title, h.document.url or "", h.text, h.similarity) for h in hits]
    return CopilotContext(messages=[client(text)], passages=passages, language=language)


def test_over_the_demo_knowledge_base(demo_kb: dict[str, str]) -> None:
    _, roaming = run(_kb_context("will I get 5G when I'm roaming in Italy?", "en"))
    assert_valid(roaming)
    assert not roaming.silent
    assert roaming.replies[0].citations[0].title == demo_kb["network-5g.en.md"]
    _, off_topic = run(_kb_context("how tall is the Eiffel Tower?", "en"))
    assert off_topic.silent and off_topic.replies == []
