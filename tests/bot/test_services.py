"""bot_respond (docs/live-chat.md, "Bot" row) against the real database and the demo knowledge base, with the
offline provider (the settings of the test suite)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.ai.models import LLMCall
from apps.bot.services import BotReply, bot_respond
from apps.conversations.models import Message
from tests.bot.conftest import eval_question, off_topic_questions
from tests.conversations.factories import ConversationFactory, MessageFactory

KINDS = {"smart", "knowledge", "no_answer", "escalation"}


def _customer_says(conversation: Any, text: str) -> BotReply:
    """What the conversation core does before asking the bot: store the customer's message."""
    MessageFactory(conversation=conversation, role=Message.Role.CUSTOMER, text=text)
    return bot_respond(conversation=conversation, text=text)


def _bot_said(conversation: Any, reply: BotReply) -> None:
    """What the core stores for a bot reply (contract: metadata kind + confident)."""
    MessageFactory(
        conversation=conversation,
        role=Message.Role.BOT,
        text=reply.text,
        sources=reply.sources,
        metadata=reply.metadata,
    )


# --------------------------------------------------------------------------- (b) smart replies


@pytest.mark.parametrize(
    ("text", "language", "starts"),
    [
        ("bonjour", "fr", "Bonjour"),
        ("Salut !", "fr", "Bonjour"),
        ("hello", "en", "Hello"),
        ("hi", "en", "Hello"),
        ("merci beaucoup !", "fr", "Avec plaisir"),
        ("thank you so much", "en", "You're welcome"),
        ("merci, au revoir", "fr", "Au revoir"),
        ("bye!", "en", "Goodbye"),
    ],
)
def test_greetings_thanks_goodbyes_are_smart_replies_without_any_model(
    kb: Any, chat_model_calls: list[str], monkeypatch: pytest.MonkeyPatch, text: str, language: str, starts: str
) -> None:
    from apps.knowledge import selectors

    searched: list[str] = []
    monkeypatch.setattr(selectors, "knowledge_search", lambda *a, **k: searched.append("x"))
    reply = bot_respond(conversation=ConversationFactory(), text=text)
    assert (reply.kind, reply.confident, reply.language) == ("smart", True, language)
    assert reply.text.startswith(starts)
    assert chat_model_calls == [] and searched == []  # no model, not even retrieval
    assert LLMCall.objects.count() == 0


def test_a_greeting_inside_a_question_is_not_a_smart_reply_but_is_returned(kb: Any) -> None:
    reply = bot_respond(conversation=None, text="bonjour, ma box ne marche plus depuis l'orage")
    assert reply.kind in ("knowledge", "no_answer") and reply.text.startswith("Bonjour ! ")


@pytest.mark.parametrize(
    ("text", "starts"), [("Bonjour, j'ai une question", "Bonjour !"), ("hello, I have a quick question", "Hello!")]
)
def test_a_greeting_announcing_a_question_is_a_greeting(kb: Any, text: str, starts: str) -> None:
    reply = bot_respond(conversation=None, text=text)
    assert (reply.kind, reply.confident) == ("smart", True) and reply.text.startswith(starts)


@pytest.mark.parametrize(
    ("text", "title_of"),
    [
        ("quels sont vos horaires d'ouverture ?", "horaires.fr.txt"),
        ("what are your opening hours?", "horaires.fr.txt"),
        ("où en est ma commande ?", "livraison.fr.md"),
        ("how can I track my parcel?", "livraison.fr.md"),
        ("j'ai oublié mon mot de passe", "account.en.md"),
        ("I forgot my password", "account.en.md"),
    ],
)
def test_top_questions_have_smart_replies_citing_their_document(
    kb: dict[str, str], chat_model_calls: list[str], text: str, title_of: str
) -> None:
    reply = bot_respond(conversation=None, text=text)
    assert reply.kind == "smart" and reply.confident
    assert [s["title"] for s in reply.sources] == [kb[title_of]]  # the seeded title is the real document's
    assert chat_model_calls == []


# --------------------------------------------------------------------------- (c) knowledge answers


@pytest.mark.parametrize(
    "question",
    [
        "la batterie de mon tel acheté neuf il y a 18 mois tient plus rien, c'est couvert ?",
        "ma banque a pas honoré le débit de l'abonnement ce mois ci, ça va me coûter combien en plus ?",
        "will I get 5G when I'm roaming in Italy?",
        "can you put the money back on a different card, mine was cancelled?",
    ],
)
def test_eval_questions_get_a_knowledge_answer_from_the_right_document(kb: dict[str, str], question: str) -> None:
    text, language, source = eval_question(question)
    reply = bot_respond(conversation=ConversationFactory(), text=text)
    assert (reply.kind, reply.confident, reply.language) == ("knowledge", True, language)
    assert reply.sources and reply.sources[0]["title"] == kb[source]
    assert set(reply.sources[0]) == {"title", "url"}
    # extractive: sentences of that document, not a canned text
    from apps.knowledge.models import Chunk

    document_text = " ".join(Chunk.objects.filter(document__title=kb[source]).values_list("text", flat=True))
    first_sentence = reply.text.split(". ")[0]
    assert first_sentence[:40] in " ".join(document_text.split())
    assert LLMCall.objects.count() == 0  # the local provider answers without a chat model


@pytest.mark.parametrize("question", off_topic_questions())
def test_off_topic_questions_get_an_honest_no_answer(kb: Any, question: str) -> None:
    reply = bot_respond(conversation=ConversationFactory(), text=question)
    assert (reply.kind, reply.confident, reply.sources) == ("no_answer", False, [])
    assert ("human" in reply.text) if reply.language == "en" else ("conseiller" in reply.text)


# --------------------------------------------------------------------------- (a) escalation rules


@pytest.mark.parametrize(
    ("text", "reason", "category", "priority", "language"),
    [
        ("je veux parler à un humain", "human_request", None, "MEDIUM", "fr"),
        ("Pouvez-vous me mettre en relation avec un conseiller ?", "human_request", None, "MEDIUM", "fr"),
        ("un conseiller svp", "human_request", None, "MEDIUM", "fr"),
        ("I want to talk to a human", "human_request", None, "MEDIUM", "en"),
        ("can I speak with an agent please", "human_request", None, "MEDIUM", "en"),
        ("je veux résilier mon forfait", "cancellation", "cancellation", "HIGH", "fr"),
        ("Comment résilier ma box ?", "cancellation", "cancellation", "HIGH", "fr"),
        ("I want to cancel my subscription", "cancellation", "cancellation", "HIGH", "en"),
        ("je veux être remboursé de ma commande", "refund", "billing", "HIGH", "fr"),
        ("remboursez-moi", "refund", "billing", "HIGH", "fr"),
        ("I want a refund for this phone", "refund", "billing", "HIGH", "en"),
        ("je conteste ce prélèvement", "dispute", "billing", "HIGH", "fr"),
        ("nous sommes en litige depuis un mois", "dispute", "billing", "HIGH", "fr"),
        ("I'll ask my bank for a chargeback", "dispute", "billing", "HIGH", "en"),
        ("je dépose une réclamation officielle", "complaint", "complaint", "HIGH", "fr"),
        ("je vais porter plainte", "complaint", "complaint", "HIGH", "fr"),
        ("I want to make a formal complaint", "complaint", "complaint", "HIGH", "en"),
        ("c'est inadmissible, trois semaines sans internet", "negative_sentiment", "complaint", "HIGH", "fr"),
        ("C'EST SCANDALEUX, VOUS ÊTES DES VOLEURS !!!", "negative_sentiment", "complaint", "URGENT", "fr"),
        ("I am furious, this is the third time", "negative_sentiment", "complaint", "HIGH", "en"),
        ("WTF is wrong with you people!!!", "negative_sentiment", "complaint", "URGENT", "en"),
    ],
)
def test_escalation_rules(
    kb: Any, chat_model_calls: list[str], text: str, reason: str, category: str | None, priority: str, language: str
) -> None:
    reply = bot_respond(conversation=ConversationFactory(), text=text)
    assert (reply.kind, reply.escalate_reason, reply.priority, reply.language) == (
        "escalation",
        reason,
        priority,
        language,
    )
    if category is not None:
        assert reply.category == category
    else:
        assert reply.category  # a topic guess, at worst "general"
    assert reply.text and ("conseiller" in reply.text if language == "fr" else "advisor" in reply.text)
    assert chat_model_calls == []


@pytest.mark.parametrize(
    "text",
    [
        "je suis un peu déçu du débit",  # mild
        "until what time on weekdays can I talk to someone in English on the phone?",  # asks for hours
        "comment obtenir mon code RIO ?",  # porting, not cancellation
        "how long does a card refund take?",  # a question about refunds, not a refund request
        "jusqu'à combien un conseiller de premier niveau peut offrir en avoir ?",
    ],
)
def test_questions_near_the_rules_do_not_escalate(kb: Any, text: str) -> None:
    assert bot_respond(conversation=None, text=text).kind != "escalation"


@pytest.mark.parametrize(
    ("text", "category", "priority"),
    [
        ("je veux parler à un conseiller pour résilier ma box", "cancellation", "HIGH"),
        ("I want to talk to a human, I want a refund", "billing", "HIGH"),
    ],
)
def test_a_human_request_about_a_sensitive_topic_gets_that_topics_ticket(
    kb: Any, text: str, category: str, priority: str
) -> None:
    reply = bot_respond(conversation=None, text=text)
    assert (reply.escalate_reason, reply.category, reply.priority) == ("human_request", category, priority)


def test_a_phishing_question_is_not_anger(kb: Any) -> None:
    reply = bot_respond(conversation=None, text="j'ai reçu un SMS d'arnaque qui me demande mes codes, que faire ?")
    assert reply.kind != "escalation"


def test_a_human_request_gets_the_topic_of_the_conversation_as_category(kb: Any) -> None:
    conversation = ConversationFactory()
    MessageFactory(conversation=conversation, role=Message.Role.CUSTOMER, text="ma facture est trop élevée")
    reply = _customer_says(conversation, "je veux parler à un conseiller")
    assert (reply.escalate_reason, reply.category) == ("human_request", "billing")


def test_three_failures_escalate(kb: Any) -> None:
    conversation = ConversationFactory()
    questions = off_topic_questions()
    first = _customer_says(conversation, questions[0])
    assert (first.kind, first.confident) == ("no_answer", False)
    _bot_said(conversation, first)
    second = _customer_says(conversation, questions[1])
    assert (second.kind, second.confident) == ("no_answer", False)
    _bot_said(conversation, second)
    third = _customer_says(conversation, questions[2])  # the third failure hands over
    assert (third.kind, third.escalate_reason, third.priority) == ("escalation", "bot_failures", "MEDIUM")
    assert third.text.startswith("Je n'arrive pas")


def test_three_failures_stored_escalate_whatever_the_next_message(kb: Any) -> None:
    conversation = ConversationFactory()
    for _ in range(3):
        MessageFactory(
            conversation=conversation, role=Message.Role.BOT, metadata={"kind": "no_answer", "confident": False}
        )
    reply = _customer_says(conversation, "bonjour")
    assert (reply.kind, reply.escalate_reason) == ("escalation", "bot_failures")


def test_failures_before_an_agent_took_part_do_not_count(kb: Any) -> None:
    conversation = ConversationFactory()
    for _ in range(2):
        MessageFactory(
            conversation=conversation, role=Message.Role.BOT, metadata={"kind": "no_answer", "confident": False}
        )
    MessageFactory(conversation=conversation, role=Message.Role.AGENT, text="Je reprends la main.")
    MessageFactory(conversation=conversation, role=Message.Role.BOT, metadata={"kind": "knowledge", "confident": True})
    reply = _customer_says(conversation, off_topic_questions()[0])
    assert (reply.kind, reply.confident) == ("no_answer", False)


@pytest.mark.parametrize(("yes", "language"), [("oui", "fr"), ("oui svp", "fr"), ("yes please", "en")])
def test_yes_to_the_offer_of_a_human_escalates(kb: Any, yes: str, language: str) -> None:
    conversation = ConversationFactory()
    question = off_topic_questions()[0 if language == "fr" else 10]
    first = _customer_says(conversation, question)
    assert first.kind == "no_answer"
    _bot_said(conversation, first)
    reply = _customer_says(conversation, yes)
    assert (reply.kind, reply.escalate_reason, reply.language) == ("escalation", "human_request", language)


def test_no_to_the_offer_of_a_human_does_not_escalate_nor_count(kb: Any) -> None:
    conversation = ConversationFactory()
    first = _customer_says(conversation, off_topic_questions()[0])
    _bot_said(conversation, first)
    reply = _customer_says(conversation, "non merci")
    assert (reply.kind, reply.confident) == ("smart", True)


# --------------------------------------------------------------------------- contract: read-only, never raises


ODD_INPUTS = [
    "",
    "   \n\t ",
    "👍",
    "😡😡😡",
    "?!?!",
    "x" * 10_000,
    "bonjour " * 2_000,
    "\x00\x01 null bytes \x00",
    "<script>alert(1)</script>",
    "'; DROP TABLE bot_smartreply; --",
    "résilier " + "blabla " * 3_000,
    "Ｆｕｌｌｗｉｄｔｈ ｔｅｘｔ",
    "\u202eRTL override",
    None,
    12345,
]


@pytest.mark.parametrize("text", ODD_INPUTS, ids=[repr(t)[:30] for t in ODD_INPUTS])
def test_odd_input_gets_an_answer_and_writes_nothing(kb: Any, text: Any) -> None:
    conversation = ConversationFactory()
    with CaptureQueriesContext(connection) as queries:
        reply = bot_respond(conversation=conversation, text=text)
    assert reply.kind in KINDS and reply.text.strip()
    writes = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]
    assert writes == []


def test_an_internal_error_gives_the_no_answer_reply(kb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from apps.knowledge import selectors

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("database went away")

    monkeypatch.setattr(selectors, "knowledge_search", broken)
    reply = bot_respond(conversation=ConversationFactory(), text="my SIM card is from 2018, will it do 5G?")
    assert (reply.kind, reply.confident, reply.language) == ("no_answer", False, "en")


def test_logs_carry_no_message_content(kb: Any, caplog: pytest.LogCaptureFixture) -> None:
    secret = "jean.dupont@example.com 0612345678 résilier"
    with caplog.at_level("DEBUG", logger="apps.bot"):
        bot_respond(conversation=ConversationFactory(), text=secret)
    assert caplog.records  # the reply is logged...
    for record in caplog.records:  # ...without content
        assert "dupont" not in record.getMessage() and "dupont" not in str(record.__dict__)


@given(text=st.text(max_size=2000))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_text_gets_a_reply_of_a_known_kind_without_writes(kb: Any, text: str) -> None:
    with CaptureQueriesContext(connection) as queries:
        reply = bot_respond(conversation=None, text=text)
    assert reply.kind in KINDS and reply.text.strip() and reply.language in ("fr", "en")
    assert (reply.kind == "escalation") == (reply.escalate_reason is not None)
    assert not [q for q in queries.captured_queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE"))]


def test_a_database_error_inside_leaves_the_callers_transaction_usable(
    kb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The conversation service calls the bot inside its own transaction and then stores the reply."""
    from django.db import transaction

    from apps.knowledge import selectors

    def failing_query(*args: Any, **kwargs: Any) -> Any:
        with connection.cursor() as cursor:
            cursor.execute("SELECT no_such_column FROM knowledge_chunk")

    monkeypatch.setattr(selectors, "knowledge_search", failing_query)
    conversation = ConversationFactory()
    with transaction.atomic():
        reply = bot_respond(conversation=conversation, text="my SIM card is from 2018, will it do 5G?")
        assert reply.kind == "no_answer"
        _bot_said(conversation, reply)  # would raise "current transaction is aborted" without the savepoint
    assert Message.objects.filter(conversation=conversation, role=Message.Role.BOT).count() == 1
