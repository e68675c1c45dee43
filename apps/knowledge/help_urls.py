from django.urls import path

from apps.knowledge import views

app_name = "help"

urlpatterns = [
    path("", views.help_index, name="index"),
    path("<int:pk>/", views.help_article, name="article"),
]
