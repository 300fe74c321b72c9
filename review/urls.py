from django.urls import path

from review import views

app_name = "review"

urlpatterns = [
    path("answers/<int:message_id>/feedback/", views.feedback, name="feedback"),
]
