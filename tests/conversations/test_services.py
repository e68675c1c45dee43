"""The conversation services with the real bot (apps.bot, local provider) in process, on the real database."""

from __future__ import annotations

from typing import Any

import pytest

from apps.conversations import services
from apps.conversations.models import Conversation
from apps.core.exceptions import ApplicationError
from apps.tickets.models import Ticket
from tests.conversations.factories import ConversationFactory

pytestmark = pytest.mark.django_db


def test_a_greeting_gets_the_bots_instant_reply() -> None:
    conversation = ConversationFactory()
    created = services.customer_message_receive(conversation=conversation, text="Bonjour")
    assert [m.role for m in created] == ["customer", "bot"]
    assert created[1].text and created[1].metadata["kind"] == "smart"
    conversation.refresh_from_db()
    assert conversation.status == "open" and conversation.last_message_at == created[1].created_at


def test_asking_for_a_human_escalates_with_a_ticket() -> None:
    conversation = ConversationFactory()
    created = services.customer_message_receive(conversation=conversation, text="Je veux parler à un conseiller humain")
    assert [m.role for m in created] == ["customer", "bot", "system"]
    conversation.refresh_from_db()
    assert conversation.status == "escalated"
    ticket = Ticket.objects.get(conversation=conversation)
    assert (ticket.source, ticket.tags) == ("escalation", ["human_request"])
    # From now on the bot is silent.
    assert [m.role for m in services.customer_message_receive(conversation=conversation, text="Allô ?")] == ["customer"]


def test_cancellation_is_a_high_priority_cancellation_ticket() -> None:
    conversation = ConversationFactory()
    services.customer_message_receive(conversation=conversation, text="Je veux résilier mon abonnement")
    ticket = Ticket.objects.select_related("category").get(conversation=conversation)
    assert ticket.category.slug == "cancellation"
    assert ticket.priority in ("HIGH", "URGENT")


def test_three_failed_answers_hand_over_to_a_human(settings: Any) -> None:
    conversation = ConversationFactory()
    questions = [
        "Quel est le nom du chat de la voisine du directeur ?",
        "Combien de plumes a un pingouin empereur adulte ?",
        "Pourquoi la lune semble plus grosse à l'horizon ?",
    ]
    for question in questions:
        services.customer_message_receive(conversation=conversation, text=question)
    conversation.refresh_from_db()
    assert conversation.status == "escalated"
    assert conversation.metadata["bot_failures"] == settings.BOT_MAX_FAILURES - 1
    assert Ticket.objects.get(conversation=conversation).tags == ["bot_failures"]


@pytest.mark.parametrize("text", ["", "   ", "\x00\x01", 42, "x" * 4001])
def test_bad_customer_text_is_refused_and_not_stored(text: Any) -> None:
    conversation = ConversationFactory()
    with pytest.raises(ApplicationError):
        services.customer_message_receive(conversation=conversation, text=text)
    assert not conversation.messages.exists()


def test_nul_bytes_are_dropped_not_a_server_error() -> None:
    conversation = ConversationFactory(status="escalated")
    [message] = services.customer_message_receive(conversation=conversation, text="a\x00b")
    assert message.text == "ab"


def test_closed_conversations_take_no_messages_and_close_once(agent_user: Any) -> None:
    conversation = ConversationFactory()
    services.conversation_close(conversation=conversation, by=agent_user)
    assert conversation.status == "closed" and conversation.closed_at is not None
    with pytest.raises(ApplicationError) as exc:
        services.customer_message_receive(conversation=conversation, text="hello")
    assert exc.value.code == "conversation_closed"
    with pytest.raises(ApplicationError):
        services.conversation_close(conversation=conversation)
    with pytest.raises(ApplicationError):
        services.conversation_escalate(conversation=conversation, reason="human_request")


def test_csat_rules() -> None:
    conversation = ConversationFactory()
    with pytest.raises(ApplicationError):
        services.csat_record(conversation=conversation, rating=5)  # not closed yet
    services.conversation_close(conversation=conversation)
    for bad in (0, 6, "5", 4.5, None):
        with pytest.raises(ApplicationError):
            services.csat_record(conversation=conversation, rating=bad)
    with pytest.raises(ApplicationError):
        services.csat_record(conversation=conversation, rating=3, comment="x" * 2001)
    services.csat_record(conversation=conversation, rating=2, comment=" lent ")
    stored = Conversation.objects.get(pk=conversation.pk)
    assert (stored.csat_rating, stored.csat_comment) == (2, "lent")


def test_assign_and_transfer(agent_user: Any) -> None:
    from tests.core.factories import UserFactory

    other = UserFactory(groups=["agent"])
    conversation = ConversationFactory()
    with pytest.raises(ApplicationError):
        services.conversation_assign(conversation=conversation, agent=UserFactory())  # not an agent
    services.conversation_assign(conversation=conversation, agent=agent_user, by=agent_user)
    assert (conversation.status, conversation.assignee) == ("escalated", agent_user)
    with pytest.raises(ApplicationError):
        services.conversation_transfer(conversation=conversation, agent=agent_user, by=agent_user)
    services.conversation_transfer(conversation=conversation, agent=other, by=agent_user)
    conversation.refresh_from_db()
    assert conversation.assignee == other
    note = conversation.messages.get()
    assert note.role == "note" and other.username in note.text


def test_agent_reply_takes_an_unassigned_conversation(agent_user: Any) -> None:
    conversation = ConversationFactory()
    services.message_post(conversation=conversation, role="agent", text="Bonjour, je m'en occupe", author=agent_user)
    conversation.refresh_from_db()
    assert (conversation.status, conversation.assignee) == ("escalated", agent_user)
    with pytest.raises(ApplicationError):
        services.message_post(conversation=conversation, role="wizard", text="x")


def test_customer_notices_follow_the_customers_language(settings: Any) -> None:
    settings.LANGUAGE_CODE = "fr"
    english = ConversationFactory()
    created = services.customer_message_receive(conversation=english, text="I want to talk to a human agent please")
    assert created[-1].role == "system" and created[-1].text.startswith("A member of our team")
    french = ConversationFactory()
    ticket = services.conversation_escalate(conversation=french, reason="human_request")  # no message yet: the site's
    assert french.messages.get().text == f"Un conseiller va vous répondre ici dès que possible (ticket #{ticket.pk})."


def test_escalating_a_contact_form_conversation_keeps_its_ticket() -> None:
    from apps.contact.services import contact_request_submit

    request = contact_request_submit(
        name="Ana", phone="+33612345678", message="Ma box clignote en rouge", client_ip="192.0.2.80"
    )
    assert request.ticket.priority == "MEDIUM"
    ticket = services.conversation_escalate(conversation=request.conversation, reason="complaint")
    assert ticket.pk == request.ticket.pk
    assert Ticket.objects.filter(conversation=request.conversation).count() == 1
    ticket.refresh_from_db()
    assert ticket.priority == "HIGH"  # raised to the complaint's priority, not duplicated
