"""The WebSocket routes; the page reverses its socket's path from here (urlconf=chat.routing)."""

from django.urls import path, reverse

from chat.consumers import ConversationConsumer

websocket_urlpatterns = [
    path(
        "ws/conversations/<int:conversation_id>/",
        ConversationConsumer.as_asgi(),
        name="conversation_socket",
    ),
]
# Django's resolver reads `urlpatterns`, which lets reverse() build a socket path.
urlpatterns = websocket_urlpatterns


def conversation_socket_path(conversation_id: int) -> str:
    return reverse(
        "conversation_socket", urlconf=__name__, kwargs={"conversation_id": conversation_id}
    )
