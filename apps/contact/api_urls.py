from django.urls import path

from apps.contact.api import ContactRequestCreateApi

urlpatterns = [
    path("contact", ContactRequestCreateApi.as_view(), name="api-contact"),
]
