"""The console socket over the real Redis channel layer: events from the conversation services become htmx
fragments (hx-swap-oob) for the inbox and the open conversation; presence; bad frames."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest

# Closes its connection afterwards, so no test leaves one open in asgiref's shared thread.
from channels.db import database_sync_to_async as sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from supportdesk.asgi import application
from tests.conversations.factories import ContactFactory, ConversationFactory, MessageFactory
from tests.core.factories import UserFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ORIGIN = (b"origin", b"http://127.0.0.1")
XSS = "<img src=x onerror=alert(1)>"


def _cookie_headers(user: Any) -> list[tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    return [ORIGIN, (b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode())]


async def _connect(user: Any) -> WebsocketCommunicator:
    headers = await sync_to_async(_cookie_headers)(user)
    communicator = WebsocketCommunicator(application, "/ws/console/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    assert json.loads(await communicator.receive_from())["type"] == "hello"
    return communicator


async def _request(communicator: WebsocketCommunicator, frame: dict[str, Any]) -> dict[str, Any]:
    """Send a JSON frame and return the JSON answer (skipping HTML fragments that may come in between)."""
    await communicator.send_json_to(frame)
    while True:
        text = await communicator.receive_from(timeout=5)
        if text.startswith('{"'):
            return json.loads(text)


async def _html_until(communicator: WebsocketCommunicator, needle: str, timeout: float = 8) -> str:
    """Every HTML fragment received until one contains ``needle`` (joined), or fail after ``timeout``."""
    received: list[str] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AssertionError(f"no fragment with {needle!r}; got {received!r}")
        if await communicator.receive_nothing(timeout=min(remaining, 0.2)):
            if communicator.future.done():
                communicator.future.result()  # the consumer died: show why
            continue
        text = await communicator.receive_from()
        if text.startswith('{"'):
            continue
        received.append(text)
        if needle in text:
            return "".join(received)


async def _drain(communicator: WebsocketCommunicator, quiet: float = 0.5) -> list[str]:
    """What arrives until the socket has been quiet for ``quiet`` seconds (receive_nothing, because a
    receive_from that times out cancels the application)."""
    out = []
    while not await communicator.receive_nothing(timeout=quiet):
        out.append(await communicator.receive_from())
    return out


async def test_anonymous_and_non_agents_are_refused() -> None:
    communicator = WebsocketCommunicator(application, "/ws/console/", headers=[ORIGIN])
    connected, code = await communicator.connect()
    assert (connected, code) == (False, 4403)

    customer = await sync_to_async(UserFactory)()
    headers = await sync_to_async(_cookie_headers)(customer)
    communicator = WebsocketCommunicator(application, "/ws/console/", headers=headers)
    connected, code = await communicator.connect()
    assert (connected, code) == (False, 4403)


async def test_a_newly_escalated_conversation_appears_in_the_inbox_with_a_notification(agent_user: Any) -> None:
    from apps.conversations.services import conversation_escalate

    console = await _connect(agent_user)
    ack = await _request(console, {"type": "inbox", "tab": "unassigned", "channel": "", "status": "", "rows": ""})
    assert ack == {
        "type": "ack",
        "of": "inbox",
        "filters": {"tab": "unassigned", "channel": "", "status": "", "label": ""},
    }

    conversation = await sync_to_async(ConversationFactory)(
        status="open", contact=await sync_to_async(ContactFactory)(name="Nina <b>Roux</b>")
    )
    await sync_to_async(MessageFactory)(conversation=conversation, text="Je veux parler à un humain")
    await sync_to_async(conversation_escalate)(conversation=conversation, reason="human_request")

    html = await _html_until(console, 'data-testid="notification"')
    html += "".join(await _drain(console))
    # The row is inserted at the top of the list, once, and the notification names the conversation.
    assert 'hx-swap-oob="afterbegin:#inbox-rows"' in html
    assert len(re.findall(rf'id="conv-row-{conversation.pk}"', html)) >= 1
    assert f'data-conversation-id="{conversation.pk}"' in html
    # conversation.updated and ticket.created both notify; each replaces the previous one: one toast on screen.
    assert html.count('data-testid="notification"') >= 1
    assert html.count('data-testid="notification"') == html.count(f'hx-swap-oob="delete:#toast-conv-{conversation.pk}"')
    assert "Needs an agent" in html
    assert "Nina &lt;b&gt;Roux&lt;/b&gt;" in html and "<b>Roux" not in html
    await console.disconnect()


async def test_rows_follow_the_filters(agent_user: Any, other_agent: Any) -> None:
    """A row the list shows is replaced in place, and removed when it no longer matches (assigned to someone
    else while the agent looks at "unassigned"); a conversation that never matched sends nothing."""
    from apps.conversations.services import conversation_assign

    shown = await sync_to_async(ConversationFactory)(status="escalated")
    elsewhere = await sync_to_async(ConversationFactory)(status="escalated", channel="whatsapp")
    console = await _connect(agent_user)
    await _request(console, {"type": "inbox", "tab": "unassigned", "channel": "widget", "rows": str(shown.pk)})

    await sync_to_async(conversation_assign)(conversation=elsewhere, agent=other_agent, by=other_agent)
    await sync_to_async(conversation_assign)(conversation=shown, agent=other_agent, by=other_agent)
    html = "".join(await _drain(console, quiet=1.5))
    assert f'hx-swap-oob="delete:#conv-row-{shown.pk}"' in html
    assert f"conv-row-{elsewhere.pk}" not in html

    # In the "all" tab the same change is a replacement in place.
    await _request(console, {"type": "inbox", "tab": "all", "rows": f"{shown.pk},{elsewhere.pk}"})
    await sync_to_async(conversation_assign)(conversation=shown, agent=agent_user, by=agent_user)
    html = await _html_until(console, f'id="conv-row-{shown.pk}"')
    assert re.search(rf'id="conv-row-{shown.pk}"[^>]*hx-swap-oob="true"', html)
    assert "afterbegin" not in html
    await console.disconnect()


async def test_an_opened_conversation_receives_its_messages_once_and_escaped(agent_user: Any) -> None:
    from apps.conversations.services import message_post

    conversation = await sync_to_async(ConversationFactory)(status="escalated")
    other = await sync_to_async(ConversationFactory)(status="escalated")
    console = await _connect(agent_user)
    assert await _request(console, {"type": "open", "conversation_id": conversation.pk}) == {
        "type": "ack",
        "of": "open",
        "conversation_id": conversation.pk,
    }

    await sync_to_async(message_post)(conversation=conversation, role="customer", text=XSS)
    await sync_to_async(message_post)(conversation=other, role="customer", text="pas pour cette page")
    html = "".join(await _drain(console, quiet=1.5))
    # Delivered through the conversation group and the inbox group, appended once.
    assert html.count(f'hx-swap-oob="beforeend:#messages-{conversation.pk}"') == 1
    assert f"beforeend:#messages-{other.pk}" not in html
    # The other conversation's row says it has an unread customer message; the open one's does not.
    assert re.search(rf'class="[^"]*\bunread\b[^"]*"\s+id="conv-row-{other.pk}"', html)
    assert not re.search(rf'class="[^"]*\bunread\b[^"]*"\s+id="conv-row-{conversation.pk}"', html)
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and XSS not in html
    assert 'data-role="customer"' in html

    # Opening another conversation leaves the first one's group.
    await _request(console, {"type": "open", "conversation_id": other.pk})
    await sync_to_async(message_post)(conversation=conversation, role="customer", text="ailleurs")
    await sync_to_async(message_post)(conversation=other, role="customer", text="ici")
    html = "".join(await _drain(console, quiet=1.5))
    assert f"beforeend:#messages-{conversation.pk}" not in html
    assert f"beforeend:#messages-{other.pk}" in html and "ici" in html
    await console.disconnect()


async def test_customer_typing_shows_in_the_open_conversation(agent_user: Any) -> None:
    from apps.conversations.events import typing_send

    conversation = await sync_to_async(ConversationFactory)(status="escalated")
    console = await _connect(agent_user)
    await _request(console, {"type": "open", "conversation_id": conversation.pk})
    await typing_send(conversation_id=conversation.pk, role="customer")
    html = await _html_until(console, f'id="typing-{conversation.pk}"')
    assert "typing" in html
    await console.disconnect()


async def test_bad_frames_get_errors_and_the_socket_stays_usable(agent_user: Any) -> None:
    console = await _connect(agent_user)
    assert (await _request(console, {"type": "open", "conversation_id": 987654}))["code"] == "not_found"
    assert (await _request(console, {"type": "open", "conversation_id": "abc"}))["code"] == "bad_frame"
    assert (await _request(console, {"type": "open", "conversation_id": True}))["code"] == "bad_frame"
    assert (await _request(console, {"type": "typing"}))["code"] == "no_conversation"
    assert (await _request(console, {"type": "fly"}))["code"] == "unknown_type"
    await console.send_to(text_data="{oops")
    assert json.loads(await console.receive_from())["code"] == "bad_json"
    # Garbage filters fall back to the defaults.
    ack = await _request(console, {"type": "inbox", "tab": 3, "channel": "fax", "rows": [1, "x", None]})
    assert ack["filters"] == {"tab": "unassigned", "channel": "", "status": "", "label": ""}
    assert await _request(console, {"type": "ping"}) == {"type": "pong"}
    # An event type the console has no handler for does not close the socket.
    from channels.layers import get_channel_layer

    await get_channel_layer().group_send("inbox.default", {"type": "suggestion.chunk", "conversation_id": 1})
    await get_channel_layer().group_send("inbox.default", {"type": "close", "code": 1000})  # not an event of ours
    assert await _request(console, {"type": "ping"}) == {"type": "pong"}
    await console.disconnect()


async def test_a_user_who_lost_the_agent_role_cannot_open_conversations(agent_user: Any) -> None:
    conversation = await sync_to_async(ConversationFactory)(status="escalated")
    console = await _connect(agent_user)
    await sync_to_async(agent_user.groups.clear)()
    answer = await _request(console, {"type": "open", "conversation_id": conversation.pk})
    assert answer["type"] == "error" and answer["code"] == "forbidden"
    await console.disconnect()


async def test_presence(agent_user: Any, other_agent: Any, flush_redis: None) -> None:
    from apps.console.selectors import presence_online_user_ids

    first = await _connect(agent_user)
    assert await sync_to_async(presence_online_user_ids)() == {agent_user.pk}

    second = await _connect(other_agent)
    html = await _html_until(first, 'id="presence"')
    assert other_agent.get_username() in html and agent_user.get_username() in html
    assert await sync_to_async(presence_online_user_ids)() == {agent_user.pk, other_agent.pk}

    # A second console of the same agent changes nothing; closing the last one takes the agent offline.
    third = await _connect(other_agent)
    await third.disconnect()
    assert other_agent.pk in await sync_to_async(presence_online_user_ids)()
    await second.disconnect()
    html = await _html_until(first, 'id="presence"')
    assert other_agent.get_username() not in html
    assert await sync_to_async(presence_online_user_ids)() == {agent_user.pk}
    await first.disconnect()
    assert await sync_to_async(presence_online_user_ids)() == set()


async def test_presence_expires_without_heartbeat(agent_user: Any, flush_redis: None, settings: Any) -> None:
    """A socket of a crashed server is not refreshed: its agent stops counting as online after the TTL."""
    from apps.console.selectors import presence_online_user_ids
    from apps.console.services import presence_connect

    settings.CONSOLE_PRESENCE_TTL = 1
    await sync_to_async(presence_connect)(user_id=agent_user.pk, socket_id="gone")
    assert await sync_to_async(presence_online_user_ids)() == {agent_user.pk}
    await asyncio.sleep(1.2)
    assert await sync_to_async(presence_online_user_ids)() == set()


async def test_a_note_never_reaches_the_customer(agent_user: Any) -> None:
    """An agent's reply from the console reaches the widget; an internal note neither live nor in the history."""
    from apps.conversations.services import widget_session_create

    token, conversation = await sync_to_async(widget_session_create)(name="Ana")
    widget = WebsocketCommunicator(application, f"/ws/widget/?token={token}", headers=[ORIGIN])
    assert (await widget.connect())[0]
    assert (await widget.receive_json_from(timeout=5))["type"] == "status"

    def post(kind: str, text: str) -> int:
        client = Client()
        client.force_login(agent_user)
        return client.post(f"/console/c/{conversation.pk}/reply/", {"kind": kind, "text": text}).status_code

    assert await sync_to_async(post)("note", "Note interne : client difficile") == 200
    assert await sync_to_async(post)("reply", "Bonjour Ana, je m'occupe de vous.") == 200
    frames = []
    while not await widget.receive_nothing(timeout=1.5):
        frames.append(await widget.receive_json_from())
    texts = [f.get("text") for f in frames if f["type"] == "message"]
    assert texts == ["Bonjour Ana, je m'occupe de vous."]
    assert "client difficile" not in json.dumps(frames)
    await widget.disconnect()

    # Nor in the history a reconnecting widget gets.
    widget = WebsocketCommunicator(application, f"/ws/widget/?token={token}", headers=[ORIGIN])
    assert (await widget.connect())[0]
    history = []
    while not await widget.receive_nothing(timeout=1):
        history.append(await widget.receive_json_from())
    assert [f.get("role") for f in history if f["type"] == "message"] == ["agent"]
    assert "client difficile" not in json.dumps(history)
    await widget.disconnect()


async def test_a_socket_whose_user_is_no_longer_an_agent_is_closed(agent_user: Any, settings: Any) -> None:
    settings.CONSOLE_PRESENCE_TTL = 3  # a beat every second
    console = await _connect(agent_user)
    await sync_to_async(agent_user.groups.clear)()
    assert await console.receive_output(timeout=5) == {"type": "websocket.close", "code": 4403}
    await console.disconnect()  # the browser's side of the close: the consumer finishes


async def test_one_event_reads_the_row_once_for_every_console_of_the_process(
    agent_user: Any, other_agent: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """50 consoles used to make 50 identical reads per message (docs/benchmarks.md, live chat)."""
    from apps.console import consumers, selectors
    from apps.conversations.services import message_post

    consumers._memo.clear()
    reads: list[int] = []
    real_row = selectors.inbox_row
    renders: list[str] = []
    real_render = consumers.render_to_string

    def counting_row(*, conversation_id: int) -> Any:
        reads.append(conversation_id)
        return real_row(conversation_id=conversation_id)

    def counting_render(template: str, context: Any = None) -> str:
        renders.append(template)
        return real_render(template, context)

    monkeypatch.setattr(selectors, "inbox_row", counting_row)
    monkeypatch.setattr(consumers, "render_to_string", counting_render)
    conversation = await sync_to_async(ConversationFactory)(status="escalated")
    consoles = [await _connect(user) for user in (agent_user, other_agent, agent_user)]
    for console in consoles:
        await _request(console, {"type": "inbox", "tab": "all", "channel": "", "status": "", "rows": ""})
    renders.clear()
    await sync_to_async(message_post)(conversation=conversation, role="customer", text="Toujours rien reçu")
    for console in consoles:
        await _html_until(console, f'id="conv-row-{conversation.pk}"')
    assert reads == [conversation.pk], "the row is read once for the three consoles"
    assert renders.count("console/ws/inbox_row.html") == 1, "and rendered once: the three lists were alike"
    # A later event for the same conversation is read again (nothing stale).
    await sync_to_async(message_post)(conversation=conversation, role="customer", text="Allô ?")
    for console in consoles:
        await _html_until(console, f'id="conv-row-{conversation.pk}"')
        await console.disconnect()
    assert reads == [conversation.pk, conversation.pk]
