from django.urls import path

from apps.console import views

app_name = "console"
urlpatterns = [
    path("", views.console_home, name="home"),
    path("inbox/", views.inbox_panel, name="inbox"),
    path("snippets/", views.snippets_list, name="snippets"),
    path("c/<int:conversation_id>/", views.conversation_detail, name="conversation"),
    # The long form, as escalation tickets link to it (apps.conversations.services._escalation_summary).
    path("conversations/<int:conversation_id>/", views.conversation_detail, name="conversation-long"),
    path("c/<int:conversation_id>/reply/", views.conversation_reply, name="reply"),
    path("c/<int:conversation_id>/assign/", views.conversation_assign_to_me, name="assign"),
    path("c/<int:conversation_id>/transfer/", views.conversation_transfer_to, name="transfer"),
    path("c/<int:conversation_id>/close/", views.conversation_close_now, name="close"),
    path("copilot/dismiss/", views.copilot_dismiss, name="copilot-dismiss"),
    path("stats/copilot/", views.copilot_stats_page, name="copilot-stats"),
]
