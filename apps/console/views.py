"""The agents' console: full pages on navigation, partials for htmx requests. Thin: check, call, render."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from apps.console import selectors
from apps.console.selectors import InboxFilters
from apps.console.services import console_reply
from apps.conversations.models import Channel, Conversation
from apps.core.exceptions import ApplicationError, NotFound
from apps.core.permissions import is_agent, is_supervisor

logger = logging.getLogger(__name__)

View = Callable[..., HttpResponse]


def agent_required(view: View) -> View:
    """Login required (redirect), then agents and supervisors only (403)."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not is_agent(request.user):
            raise PermissionDenied("The console is for agents and supervisors.")
        return view(request, *args, **kwargs)

    return wrapper


def _is_partial(request: HttpRequest) -> bool:
    htmx = getattr(request, "htmx", None)
    return htmx is not None and bool(htmx) and not htmx.history_restore_request


def _conversation(request: HttpRequest, conversation_id: int) -> Conversation:
    try:
        return selectors.conversation_for_agent(user=request.user, conversation_id=conversation_id)
    except NotFound as exc:
        raise Http404(exc.detail) from exc


def _inbox_context(request: HttpRequest, filters: InboxFilters) -> dict[str, Any]:
    rows = selectors.inbox_for_agent(user=request.user, filters=filters)
    return {
        "filters": filters,
        "rows": rows,
        "row_ids": ",".join(str(r.conversation.pk) for r in rows),
        "tabs": [("unassigned", "Unassigned"), ("mine", "Mine"), ("all", "All")],
        "channels": Channel.choices,
        "statuses": [
            ("", "Active"),
            ("open", "Open (bot)"),
            ("escalated", "Escalated"),
            ("closed", "Closed"),
            ("any", "Any"),
        ],
    }


def _header_context(request: HttpRequest, conversation: Conversation, error: str = "") -> dict[str, Any]:
    return {
        "conversation": conversation,
        "agents": [a for a in selectors.agents_all() if a.pk != conversation.assignee_id],
        "error": error,
    }


def _conversation_context(request: HttpRequest, conversation: Conversation) -> dict[str, Any]:
    panel = selectors.copilot_panel_latest(conversation_id=conversation.pk)
    return {
        **_header_context(request, conversation),
        "messages": selectors.conversation_messages(conversation=conversation),
        "customer": selectors.customer_context(conversation=conversation),
        "panel": panel,
        "copilot_analytics": selectors.copilot_analytics(conversation_id=conversation.pk),
        # The reply box names the suggestion on screen, so sending records what became of it.
        "suggestion_id": panel.suggestion_id if panel.ghost else None,
    }


def _page_context(request: HttpRequest) -> dict[str, Any]:
    filters = InboxFilters.from_mapping(request.GET)
    # This page is about to open its socket: its agent is shown online from the start (the consumer does not
    # redraw the list for the agent's own presence.changed).
    online = [a for a in selectors.presence_online_agents() if a.pk != request.user.pk] + [request.user]
    return {
        **_inbox_context(request, filters),
        "is_supervisor": is_supervisor(request.user),
        "online_agents": sorted(online, key=lambda a: a.get_username()),
    }


@agent_required
@require_GET
def console_home(request: HttpRequest) -> HttpResponse:
    return render(request, "console/home.html", _page_context(request))


@agent_required
@require_GET
def inbox_panel(request: HttpRequest) -> HttpResponse:
    """The inbox list under the query string's filters (tab, channel, status, label)."""
    if not _is_partial(request):
        return render(request, "console/home.html", _page_context(request))
    return render(
        request, "console/partials/inbox.html", _inbox_context(request, InboxFilters.from_mapping(request.GET))
    )


@agent_required
@require_GET
def conversation_detail(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = _conversation(request, conversation_id)
    context = _conversation_context(request, conversation)
    if _is_partial(request):
        return render(request, "console/partials/conversation.html", context)
    return render(request, "console/home.html", {**_page_context(request), **context, "open_conversation": True})


@agent_required
@require_GET
def snippets_list(request: HttpRequest) -> JsonResponse:
    """Active snippets for the reply box's expansion (static/console/console.js)."""
    return JsonResponse(
        {"snippets": [{"shortcut": s.shortcut, "title": s.title, "body": s.body} for s in selectors.snippets_active()]}
    )


@agent_required
@require_POST
def conversation_reply(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Send a reply (`kind=reply`) or add an internal note (`kind=note`). The message itself reaches the page
    through the console socket (message.new), like everyone else's; the response is a fresh reply box."""
    conversation = _conversation(request, conversation_id)
    text = request.POST.get("text", "")
    note = request.POST.get("kind") == "note"
    raw_suggestion = request.POST.get("suggestion_id", "")
    suggestion_id = int(raw_suggestion) if raw_suggestion.isdigit() else None
    try:
        message = console_reply(conversation=conversation, agent=request.user, text=text, note=note)
    except ApplicationError as exc:
        context = {"conversation": conversation, "error": exc.detail, "text": text, "suggestion_id": suggestion_id}
        return render(request, "console/partials/reply_form.html", context, status=422)
    if suggestion_id is not None and not note:
        _suggestion_outcome(request, suggestion_id, sent_text=message.text)
    conversation.refresh_from_db()
    # The fresh box names no suggestion: this one's outcome is recorded (console.js names the next one).
    return render(request, "console/partials/reply_form.html", {"conversation": conversation})


def _suggestion_outcome(request: HttpRequest, suggestion_id: int, *, sent_text: str | None) -> bool:
    """Record what the agent did with a suggestion (accepted, edited or ignored: apps.copilot decides). A failure
    never costs the reply: it is logged (ids only) and False is returned."""
    from apps.copilot.services import suggestion_outcome_record

    try:
        with transaction.atomic():  # a database error here must not break the request's other queries
            recorded = suggestion_outcome_record(suggestion_id=suggestion_id, agent=request.user, sent_text=sent_text)
    except Exception as exc:  # the type only: an error's text could quote what was sent
        logger.warning(
            "copilot outcome not recorded", extra={"suggestion_id": suggestion_id, "error": type(exc).__name__}
        )
        return False
    return recorded is not None


@agent_required
@require_POST
def copilot_dismiss(request: HttpRequest) -> HttpResponse:
    """Esc on the ghost text: the suggestion (POST ``suggestion_id``) is recorded as ignored, unless its outcome was
    already recorded (the first decision stands). 204; 400 without an id, 404 for an unknown suggestion."""
    raw = request.POST.get("suggestion_id", "")
    if not raw.isdigit():
        return JsonResponse({"detail": "suggestion_id is a suggestion id."}, status=400)
    from apps.copilot.services import suggestion_outcome_record

    if suggestion_outcome_record(suggestion_id=int(raw), agent=request.user, sent_text=None) is None:
        return JsonResponse({"detail": "No such suggestion.", "code": "not_found"}, status=404)
    return HttpResponse(status=204)


@login_required
@require_GET
def copilot_stats_page(request: HttpRequest) -> HttpResponse:
    """Supervisors only (403 for everyone else): the copilot's latency, acceptance and cost (SPEC §7)."""
    if not is_supervisor(request.user):
        raise PermissionDenied("The copilot's statistics are for supervisors.")
    from apps.copilot.selectors import copilot_stats

    return render(request, "console/copilot_stats.html", {"stats": copilot_stats()})


def _header_response(request: HttpRequest, conversation: Conversation, action: Callable[[], Any]) -> HttpResponse:
    try:
        action()
    except ApplicationError as exc:
        conversation.refresh_from_db()
        context = _header_context(request, conversation, error=exc.detail)
        return render(request, "console/partials/conversation_header.html", context, status=422)
    conversation = _conversation(request, conversation.pk)
    return render(request, "console/partials/conversation_header.html", _header_context(request, conversation))


@agent_required
@require_POST
def conversation_assign_to_me(request: HttpRequest, conversation_id: int) -> HttpResponse:
    from apps.conversations.services import conversation_assign

    conversation = _conversation(request, conversation_id)
    return _header_response(
        request,
        conversation,
        lambda: conversation_assign(conversation=conversation, agent=request.user, by=request.user),
    )


@agent_required
@require_POST
def conversation_transfer_to(request: HttpRequest, conversation_id: int) -> HttpResponse:
    from apps.conversations.services import conversation_transfer

    conversation = _conversation(request, conversation_id)
    agent_id = request.POST.get("agent", "")
    agent = selectors.agents_all().filter(pk=int(agent_id)).first() if agent_id.isdigit() else None

    def transfer() -> None:
        if agent is None:
            raise ApplicationError("Choose an agent to transfer to.", code="no_agent")
        conversation_transfer(conversation=conversation, agent=agent, by=request.user)

    return _header_response(request, conversation, transfer)


@agent_required
@require_POST
def conversation_close_now(request: HttpRequest, conversation_id: int) -> HttpResponse:
    from apps.conversations.services import conversation_close

    conversation = _conversation(request, conversation_id)
    return _header_response(
        request, conversation, lambda: conversation_close(conversation=conversation, by=request.user)
    )
