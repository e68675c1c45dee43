from django.urls import path

from apps.widget import views

urlpatterns = [
    path("demo/", views.widget_demo, name="widget-demo"),
]
