from django.urls import path

from apps.tickets.api import TicketListApi

urlpatterns = [
    path("tickets/", TicketListApi.as_view(), name="api-tickets"),
]
