"""Least privilege: who may read, review, export; nobody edits or deletes a transcript."""

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from chat.models import Conversation, Message
from review.models import AnswerFlag, ReviewNote, StaffAccess
from tests.helpers.clients import client_for
from tests.review.factories import answers, staff_user

pytestmark = pytest.mark.django_db


def read_urls(conversation: Conversation) -> list[str]:
    return [
        "/admin/chat/conversation/",
        f"/admin/chat/conversation/{conversation.pk}/change/",
        f"/admin/chat/conversation/{conversation.pk}/history/",
        "/admin/chat/toolcall/",
        "/admin/review/feedback/",
        "/admin/review/answerflag/",
        "/admin/review/staffaccess/",
    ]


def act_requests(conversation: Conversation) -> list[tuple[str, str, dict[str, str]]]:
    answer = answers(conversation)[0]
    base = f"/admin/chat/conversation/{conversation.pk}"
    return [
        ("post", f"{base}/review/", {"status": "reviewed", "assignee": ""}),
        ("post", f"{base}/notes/", {"text": "a note"}),
        ("post", f"{base}/answers/{answer.pk}/flag/", {"kind": "unclear", "reason": "why"}),
        ("get", f"{base}/export/csv/", {}),
        ("get", f"{base}/export/json/", {}),
    ]


def nothing_written(conversation: Conversation) -> bool:
    return not (
        StaffAccess.objects.filter(conversation=conversation).exists()
        or ReviewNote.objects.filter(conversation=conversation).exists()
        or AnswerFlag.objects.filter(message__conversation=conversation).exists()
    )


def test_reviewers_group_grants_exactly_view_and_review() -> None:
    granted = {
        f"{p.content_type.app_label}.{p.codename}"
        for p in Group.objects.get(name="Reviewers").permissions.select_related("content_type")
    }
    assert granted == {
        "chat.view_conversation",
        "chat.view_message",
        "chat.view_toolcall",
        "review.review_conversation",
        "review.view_conversationreview",
        "review.view_feedback",
        "review.view_answerflag",
        "review.view_reviewnote",
        "review.view_reviewevent",
        "review.view_staffaccess",
    }
    assert not any(
        code.split(".")[1].startswith(("add_", "change_", "delete_")) for code in granted
    )


def test_staff_without_permissions_gets_403_everywhere(conversation: Conversation) -> None:
    client = client_for(staff_user("stan"))
    for url in read_urls(conversation):
        assert client.get(url).status_code == 403, url
    for method, url, data in act_requests(conversation):
        assert getattr(client, method)(url, data).status_code == 403, url
    # Searching transcripts is reading them.
    assert client.get("/admin/chat/conversation/?q=85000").status_code == 403
    index = client.get("/admin/").content.decode()
    assert "Conversations" not in index
    assert nothing_written(conversation)


@pytest.mark.parametrize("user_kind", ["anonymous", "person"])
def test_people_who_are_not_staff_are_sent_to_the_admin_login(
    conversation: Conversation, alice: User, user_kind: str
) -> None:
    client = client_for(alice) if user_kind == "person" else Client()
    for url in read_urls(conversation):
        response = client.get(url)
        assert response.status_code == 302, url
        assert "/admin/login/" in response["Location"]
    for method, url, data in act_requests(conversation):
        response = getattr(client, method)(url, data)
        assert response.status_code == 302, url
        assert "/admin/login/" in response["Location"]
    assert nothing_written(conversation)


def test_view_only_staff_reads_but_cannot_review_or_export(conversation: Conversation) -> None:
    client = client_for(staff_user("vera", perms=("chat.view_conversation", "chat.view_toolcall")))
    page = client.get(f"/admin/chat/conversation/{conversation.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "The tax on <strong>85,000</strong> is 14,500." in html
    assert "You may read but not review" in html
    assert "Add note" not in html
    assert "Export CSV" not in html
    for method, url, data in act_requests(conversation):
        assert getattr(client, method)(url, data).status_code == 403, url
    changelist = client.get("/admin/chat/conversation/").content.decode()
    assert "export_csv" not in changelist  # no export action offered
    # Her look is still logged: reading is an access.
    assert StaffAccess.objects.filter(conversation=conversation, what="viewed").count() == 1


def test_reviewer_can_read_review_and_export(
    conversation: Conversation, reviewer_client: Client
) -> None:
    for url in read_urls(conversation):
        assert reviewer_client.get(url).status_code == 200, url
    for method, url, data in act_requests(conversation):
        assert getattr(reviewer_client, method)(url, data).status_code in (200, 302), url
    assert ReviewNote.objects.filter(conversation=conversation).count() == 1
    assert AnswerFlag.objects.filter(message__conversation=conversation).count() == 1


@pytest.mark.parametrize("role", ["reviewer", "superuser"])
def test_transcripts_are_read_only_for_everybody(
    conversation: Conversation, reviewer: User, django_user_model: type[User], role: str
) -> None:
    user = (
        reviewer
        if role == "reviewer"
        else django_user_model.objects.create_superuser("root", "r@example.com", "pw-root-123")
    )
    client = client_for(user)
    base = "/admin/chat/conversation"
    answer = answers(conversation)[0]
    before = list(Message.objects.values_list("pk", "text"))
    assert client.post(f"{base}/{conversation.pk}/change/", {"title": "x"}).status_code == 403
    assert client.post(f"{base}/{conversation.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get(f"{base}/add/").status_code == 403
    # No bulk delete action either: the changelist refuses an unknown action.
    client.post(f"{base}/", {"action": "delete_selected", "_selected_action": [conversation.pk]})
    assert client.get(f"/admin/chat/message/{answer.pk}/change/").status_code == 404
    assert (
        client.post(f"/admin/chat/toolcall/{answer.tool_calls.get().pk}/delete/").status_code == 403
    )
    assert list(Message.objects.values_list("pk", "text")) == before
    assert Conversation.objects.filter(pk=conversation.pk).exists()
