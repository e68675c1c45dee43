"""The widget protocol (SPEC §6) end to end: POST /api/widget/sessions, then /ws/widget/ over the real Redis
channel layer and the real database."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

# Closes its connection afterwards, so no test leaves one open in asgiref's shared thread.
from channels.db import database_sync_to_async as sync_to_async
from django.core import signing

from apps.conversations import events, services
from apps.conversations.models import Conversation, Message
from apps.tickets.models import Ticket
from tests.conversations.widget_helpers import connected, receive_until, widget_communicator

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

XSS = "<img src=x onerror=alert(1)>"


def _conversation(pk: int) -> Conversation:
    return Conversation.objects.select_related("contact").get(pk=pk)


async def test_session_then_socket_sends_history_without_notes_then_status(
    session_create: Any, agent_user: Any
) -> None:
    body = await sync_to_async(session_create)(name=" Ana  Lima ", phone="+33 6 12-34.56.78", email="Ana@Example.COM")
    assert set(body) == {"token", "conversation_id"}
    conversation = await sync_to_async(_conversation)(body["conversation_id"])
    assert conversation.channel == "widget" and conversation.status == "open"
    assert (conversation.contact.name, conversation.contact.phone, conversation.contact.email) == (
        "Ana Lima",
        "+33612345678",
        "Ana@example.com",
    )

    def write() -> list[Message]:
        return [
            services.message_post(conversation=conversation, role="customer", text="Bonjour"),
            services.message_post(conversation=conversation, role="bot", text="Bonjour !", sources=[
                {"title": "FAQ", "url": "https://help.example/faq"}, {"title": "bad", "url": "javascript:alert(1)"}
            ]),
            services.message_post(conversation=conversation, role="note", text="internal: VIP customer", author=agent_user),
        ]  # fmt: skip

    customer, bot, _note = await sync_to_async(write)()
    communicator, frames = await connected(body["token"])
    assert [f["type"] for f in frames] == ["message", "message", "status"]
    assert frames[0] == {
        "type": "message",
        "id": customer.pk,
        "role": "customer",
        "text": "Bonjour",
        "sources": [],
        "created_at": customer.created_at.isoformat(),
    }
    assert frames[1]["id"] == bot.pk and frames[1]["role"] == "bot"
    # A javascript: link never reaches the customer's page.
    assert frames[1]["sources"] == [{"title": "FAQ", "url": "https://help.example/faq"}, {"title": "bad", "url": ""}]
    assert frames[2] == {"type": "status", "status": "open"}

    # Live: an agent's reply arrives (and hands the conversation to humans), a note does not.
    def agent_writes() -> None:
        services.message_post(conversation=conversation, role="note", text="still internal", author=agent_user)
        services.message_post(conversation=conversation, role="agent", text="Je regarde", author=agent_user)

    await sync_to_async(agent_writes)()
    live = await receive_until(communicator, lambda f: f["type"] == "status")
    assert [(f["type"], f.get("role"), f.get("text"), f.get("status")) for f in live] == [
        ("message", "agent", "Je regarde", None),
        ("status", None, None, "escalated"),
    ]
    await events.typing_send(conversation_id=conversation.pk, role="agent")
    assert await communicator.receive_json_from(timeout=5) == {"type": "typing", "role": "agent"}
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_bad_tokens_are_refused_at_connect(session_create: Any) -> None:
    body = await sync_to_async(session_create)()
    token = body["token"]

    for bad, code in [
        (None, 4401),  # no token
        ("", 4401),
        (token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), 4401),  # signature changed
        (token.replace(token.split(":")[0], token.split(":")[0] + "x", 1), 4401),  # payload changed
        ("not-a-token", 4401),
    ]:
        communicator = widget_communicator(bad)
        assert await communicator.connect(timeout=10) == (False, code), bad

    # A correctly signed token whose conversation no longer carries its nonce (revoked) opens nothing.
    def revoke() -> None:
        conversation = Conversation.objects.get(pk=body["conversation_id"])
        conversation.metadata["visitor_nonce"] = "rotated"
        conversation.save()

    await sync_to_async(revoke)()
    assert await widget_communicator(token).connect(timeout=10) == (False, 4403)

    # A context token (another salt) is not a visitor token.
    from apps.conversations.tokens import context_token_make

    assert await widget_communicator(context_token_make(ticket_id=1)).connect(timeout=10) == (False, 4401)


async def test_expired_token_is_refused(session_create: Any, settings: Any) -> None:
    body = await sync_to_async(session_create)()
    settings.WIDGET_TOKEN_MAX_AGE = 0
    await asyncio.sleep(1.1)
    assert await widget_communicator(body["token"]).connect(timeout=10) == (False, 4401)


async def test_another_conversations_token_never_shows_this_ones_messages(session_create: Any) -> None:
    mine = await sync_to_async(session_create)()
    other = await sync_to_async(session_create)()
    mine_conversation = await sync_to_async(_conversation)(mine["conversation_id"])
    await sync_to_async(services.message_post)(conversation=mine_conversation, role="customer", text="mon IBAN secret")

    # Forging a token for my conversation with the other's nonce cannot work without the key; with the other's
    # own token the socket shows only the other's conversation, now and later.
    other_socket, frames = await connected(other["token"])
    assert frames == [{"type": "status", "status": "open"}]
    mine_socket, mine_frames = await connected(mine["token"])
    assert [f.get("text") for f in mine_frames if f["type"] == "message"] == ["mon IBAN secret"]

    await sync_to_async(services.message_post)(conversation=mine_conversation, role="agent", text="IBAN reçu")
    assert (await receive_until(mine_socket, lambda f: f["type"] == "message"))[-1]["text"] == "IBAN reçu"
    assert await other_socket.receive_nothing(timeout=0.5)

    # Re-signing the other token's payload with my conversation id is impossible: any change breaks the signature.
    payload = signing.loads(other["token"], salt="supportdesk.widget.visitor")
    forged = signing.dumps(
        {"c": mine["conversation_id"], "n": payload["n"]}, salt="supportdesk.widget.visitor", key="guess"
    )
    assert await widget_communicator(forged).connect(timeout=10) == (False, 4401)
    await other_socket.disconnect()
    await mine_socket.disconnect()


async def test_malformed_frames_get_errors_and_the_socket_stays_usable(session_create: Any) -> None:
    body = await sync_to_async(session_create)()
    communicator, _ = await connected(body["token"])
    cases: list[tuple[str, str]] = [
        ("{not json", "bad_json"),
        ("[1, 2]", "bad_frame"),
        ('{"text": "no type"}', "bad_frame"),
        ('{"type": "launch_missiles"}', "unknown_type"),
        ('{"type": "message"}', "bad_frame"),
        ('{"type": "message", "text": "   "}', "bad_frame"),
        ('{"type": "message", "text": 42}', "bad_frame"),
        ('{"type": "csat", "rating": 9}', "rating"),
        ('{"type": "csat", "rating": 5}', "not_closed"),
        ("x" * 20_000, "bad_frame"),
    ]
    for raw, code in cases:
        await communicator.send_to(text_data=raw)
        frame = await communicator.receive_json_from(timeout=5)
        assert frame["type"] == "error" and frame["code"] == code, (raw, frame)
        assert isinstance(frame["detail"], str) and frame["detail"]

    await communicator.send_json_to({"type": "message", "text": "Toujours là ?"})
    echo = await receive_until(communicator, lambda f: f["type"] == "message" and f["role"] == "customer")
    assert echo[-1]["text"] == "Toujours là ?"
    await communicator.disconnect()


async def test_html_is_stored_and_sent_as_plain_text(session_create: Any) -> None:
    body = await sync_to_async(session_create)()
    communicator, _ = await connected(body["token"])
    await communicator.send_json_to({"type": "message", "text": XSS})
    frames = await receive_until(communicator, lambda f: f["type"] == "message" and f["role"] == "customer")
    assert frames[-1]["text"] == XSS

    def stored() -> list[str]:
        return list(
            Message.objects.filter(conversation_id=body["conversation_id"], role="customer").values_list(
                "text", flat=True
            )
        )

    assert await sync_to_async(stored)() == [XSS]
    # On reconnect, the history carries it unchanged as well.
    again, history = await connected(body["token"])
    assert [f["text"] for f in history if f["type"] == "message" and f["role"] == "customer"] == [XSS]
    await communicator.disconnect()
    await again.disconnect()


async def test_21st_message_in_a_minute_gets_a_rate_limit_error(session_create: Any, agent_user: Any) -> None:
    body = await sync_to_async(session_create)()
    conversation = await sync_to_async(_conversation)(body["conversation_id"])
    # An agent has it, so the bot stays out and each message is answered by its own echo only.
    await sync_to_async(services.conversation_assign)(conversation=conversation, agent=agent_user)
    communicator, _ = await connected(body["token"])
    for i in range(20):
        await communicator.send_json_to({"type": "message", "text": f"message {i}"})
        frame = await communicator.receive_json_from(timeout=10)
        assert (frame["type"], frame["text"]) == ("message", f"message {i}"), frame
    await communicator.send_json_to({"type": "message", "text": "one too many"})
    error = await communicator.receive_json_from(timeout=10)
    assert error["type"] == "error" and error["code"] == "rate_limited"
    assert isinstance(error["retry_after"], int) and 1 <= error["retry_after"] <= 60
    count = await sync_to_async(Message.objects.filter(conversation=conversation, role="customer").count)()
    assert count == 20

    # The limit is per client IP: another address may still write; a forged X-Forwarded-For from an untrusted
    # peer changes nothing.
    spoofed, _ = await connected(body["token"], headers=[(b"x-forwarded-for", b"203.0.113.99")])
    await spoofed.send_json_to({"type": "message", "text": "spoofed"})
    assert (await spoofed.receive_json_from(timeout=10))["code"] == "rate_limited"
    elsewhere, _ = await connected(body["token"], client_ip="198.51.100.8")
    await elsewhere.send_json_to({"type": "message", "text": "from elsewhere"})
    assert (await elsewhere.receive_json_from(timeout=10))["text"] == "from elsewhere"
    for socket in (communicator, spoofed, elsewhere):
        await socket.disconnect()


async def test_trusted_proxy_forwarded_address_is_the_client(
    session_create: Any, settings: Any, agent_user: Any
) -> None:
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    settings.WIDGET_RATE_LIMIT = 1
    body = await sync_to_async(session_create)()
    conversation = await sync_to_async(_conversation)(body["conversation_id"])
    await sync_to_async(services.conversation_assign)(conversation=conversation, agent=agent_user)
    # Two customers behind the same proxy: each has its own limit.
    for client in (b"203.0.113.1", b"203.0.113.2"):
        socket, _ = await connected(body["token"], client_ip="10.1.2.3", headers=[(b"x-forwarded-for", client)])
        await socket.send_json_to({"type": "message", "text": "hello"})
        assert (await socket.receive_json_from(timeout=10))["type"] == "message"
        await socket.send_json_to({"type": "message", "text": "again"})
        assert (await socket.receive_json_from(timeout=10))["code"] == "rate_limited"
        await socket.disconnect()


async def test_human_frame_escalates_with_a_ticket_sla_and_ticket_created(
    session_create: Any, inbox_listener: Any
) -> None:
    body = await sync_to_async(session_create)(name="Ana", phone="0612345678")
    communicator, _ = await connected(body["token"])
    await communicator.send_json_to({"type": "human"})
    frames = await receive_until(communicator, lambda f: f["type"] == "status")
    assert frames[0]["type"] == "message" and frames[0]["role"] == "system"
    assert frames[-1] == {"type": "status", "status": "escalated"}

    event = await inbox_listener("ticket.created")

    def ticket() -> Ticket:
        return Ticket.objects.select_related("category", "contact").get(conversation_id=body["conversation_id"])

    created = await sync_to_async(ticket)()
    assert event == {"type": "ticket.created", "ticket_id": created.pk, "conversation_id": body["conversation_id"]}
    assert (created.source, created.category.slug, created.priority, created.contact.name) == (
        "escalation",
        "assistance",
        "MEDIUM",
        "Ana",
    )
    assert created.ack_due_at - created.created_at == timedelta(minutes=15)
    assert created.first_contact_due_at - created.created_at == timedelta(hours=24)
    assert f"/console/conversations/{body['conversation_id']}/" in created.description
    assert str(created.pk) in frames[0]["text"]

    # Asking again changes nothing and says so.
    await communicator.send_json_to({"type": "human"})
    assert (await communicator.receive_json_from(timeout=5))["code"] == "already_escalated"
    assert await sync_to_async(Ticket.objects.filter(conversation_id=body["conversation_id"]).count)() == 1
    await communicator.disconnect()


async def test_close_sends_status_then_csat_is_stored(session_create: Any, agent_user: Any) -> None:
    body = await sync_to_async(session_create)()
    conversation = await sync_to_async(_conversation)(body["conversation_id"])
    await sync_to_async(services.message_post)(conversation=conversation, role="customer", text="Merci pour tout")
    communicator, _ = await connected(body["token"])

    await sync_to_async(services.conversation_close)(conversation=conversation, by=agent_user)
    assert await communicator.receive_json_from(timeout=10) == {"type": "status", "status": "closed"}

    await communicator.send_json_to({"type": "message", "text": "encore une question"})
    assert (await communicator.receive_json_from(timeout=10))["code"] == "conversation_closed"
    await communicator.send_json_to({"type": "csat", "rating": True})
    assert (await communicator.receive_json_from(timeout=10))["code"] == "rating"
    await communicator.send_json_to({"type": "csat", "rating": 4, "comment": "Rapide <b>et</b> clair"})
    assert await communicator.receive_nothing(timeout=0.5)

    stored = await sync_to_async(_conversation)(conversation.pk)
    assert (stored.csat_rating, stored.csat_comment) == (4, "Rapide <b>et</b> clair")
    # The labeling pipeline still gets the closed conversation.
    from apps.labels.models import LabelingJob

    assert await sync_to_async(LabelingJob.objects.filter(conversation_id=conversation.pk).exists)()
    await communicator.disconnect()


async def test_widget_origins(session_create: Any, settings: Any, agent_user: Any) -> None:
    body = await sync_to_async(session_create)()
    shop = b"https://shop.example.com"
    assert (await widget_communicator(body["token"], origin=shop).connect(timeout=10))[0] is False
    settings.WIDGET_ALLOWED_ORIGINS = ["https://shop.example.com"]
    socket, frames = await connected(body["token"], origin=shop)
    assert frames[-1]["type"] == "status"
    await socket.disconnect()
    assert (await widget_communicator(body["token"], origin=b"https://evil.example").connect(timeout=10))[0] is False
    assert (await widget_communicator(body["token"], origin=None).connect(timeout=10))[0] is False

    # The embedding site's origin opens the widget socket only, never the console's.
    from channels.testing import WebsocketCommunicator

    from supportdesk.asgi import application

    console = WebsocketCommunicator(application, "/ws/console/", headers=[(b"origin", shop)])
    assert (await console.connect(timeout=10))[0] is False


async def test_customer_typing_reaches_the_conversation_group_and_events_carry_ids_only(
    session_create: Any, inbox_listener: Any
) -> None:
    from channels.layers import get_channel_layer

    body = await sync_to_async(session_create)()
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(f"conversation.{body['conversation_id']}", channel)
    communicator, _ = await connected(body["token"])

    await communicator.send_json_to({"type": "typing"})
    event = await asyncio.wait_for(layer.receive(channel), 5)
    assert event == {"type": "typing", "conversation_id": body["conversation_id"], "role": "customer"}
    assert await communicator.receive_nothing(timeout=0.3)  # not echoed to the customer

    await communicator.send_json_to({"type": "message", "text": "mon numéro est le 0612345678"})
    new = await inbox_listener("message.new")
    assert set(new) == {"type", "conversation_id", "message_id", "role"}
    assert new["conversation_id"] == body["conversation_id"] and new["role"] == "customer"
    await layer.group_discard(f"conversation.{body['conversation_id']}", channel)
    await communicator.disconnect()
