import pytest
from django.contrib.auth.models import User
from django.test import Client

from chat import services, turns
from chat.engines.offline import OfflineEngine
from chat.models import Message
from tests.htmlcheck import active_parts

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(django_user_model: type[User]) -> Client:
    admin = django_user_model.objects.create_superuser("staff", "s@example.com", "pw-staff-123")
    client = Client()
    client.force_login(admin)
    return client


@pytest.fixture
def conversation_id(alice: User) -> int:
    conversation = services.conversation_get_or_create_empty(owner=alice)
    started = turns.turn_start(
        conversation=conversation, text="<script>alert(1)</script> 85000", engine=OfflineEngine()
    )
    started.assistant_message.text = "needle answer <img src=x onerror=alert(2)>"
    started.assistant_message.status = Message.Status.COMPLETE
    started.assistant_message.save()
    # The made-up title is "Tax on €85,000"; a person's own title may hold markup.
    services.conversation_rename(conversation=conversation, title="<script>alert(1)</script>")
    return conversation.pk


def test_staff_review_a_conversation_read_only(staff: Client, conversation_id: int) -> None:
    response = staff.get(f"/admin/chat/conversation/{conversation_id}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "needle answer" in html
    assert 'name="_save"' not in html  # read-only: no save button
    transcript = html[html.index("taxsite-transcript") :]
    assert active_parts(transcript.split("</fieldset>")[0]) == []


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?q=needle",
        "?engine__exact=offline",
        "?messages__status__exact=complete",
        "?owner__id__exact=1",
    ],
)
def test_list_filters_and_search_load(staff: Client, conversation_id: int, query: str) -> None:
    assert staff.get(f"/admin/chat/conversation/{query}").status_code == 200


def test_search_finds_message_text(staff: Client, conversation_id: int) -> None:
    assert "&lt;script&gt;" in staff.get("/admin/chat/conversation/?q=needle").content.decode()
    assert (
        "0 conversations"
        in staff.get("/admin/chat/conversation/?q=nothing-like-it").content.decode()
    )


@pytest.mark.parametrize(
    "path", ["/admin/chat/conversation/", "/admin/chat/message/", "/admin/chat/toolcall/"]
)
def test_admin_is_closed_to_people_who_are_not_staff(alice: User, path: str) -> None:
    client = Client()
    client.force_login(alice)
    response = client.get(path)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
