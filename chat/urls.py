from django.urls import path

from chat import views

app_name = "chat"

urlpatterns = [
    path("", views.home, name="home"),
    path("c/new/", views.conversation_new, name="conversation_new"),
    path("c/<int:pk>/", views.conversation_detail, name="conversation"),
]

# features: conversation menu, search, export, long conversations, versions
urlpatterns += [
    path("c/<int:pk>/rename/", views.conversation_rename, name="conversation_rename"),
    path("c/<int:pk>/delete/", views.conversation_delete, name="conversation_delete"),
    path("c/<int:pk>/export.<str:kind>", views.conversation_export, name="conversation_export"),
    path("c/<int:pk>/messages/", views.message_page, name="message_page"),
    path(
        "m/<int:message_id>/versions/<int:number>/",
        views.message_version,
        name="message_version",
    ),
    path("search/", views.conversation_search, name="conversation_search"),
    path("conversations/", views.conversation_index, name="conversation_index"),
    path("favicon.ico", views.favicon, name="favicon"),
]
