from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.conversations.models import Conversation
from apps.core.permissions import is_agent, is_supervisor


@login_required
def console_home(request: HttpRequest) -> HttpResponse:
    if not is_agent(request.user):
        raise PermissionDenied("The console is for agents and supervisors.")
    conversations = Conversation.objects.select_related("contact", "assignee").exclude(status="closed")[:50]
    return render(
        request,
        "console/home.html",
        {"conversations": conversations, "is_supervisor": is_supervisor(request.user)},
    )
