"""Private pages are not cached; usernames are normalized and look-alikes refused at sign-up."""

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from chat import services
from chat.models import Message
from tests.helpers.clients import client_for

pytestmark = pytest.mark.django_db


def test_transcript_pages_are_not_stored(alice: User) -> None:
    conversation = services.conversation_get_or_create_empty(owner=alice)
    Message.objects.create(conversation=conversation, role="user", text="my revenue is 85000")
    response = client_for(alice).get(f"/c/{conversation.pk}/")
    assert "my revenue is 85000" in response.content.decode()
    directives = {part.strip() for part in response["Cache-Control"].split(",")}
    assert {"no-store", "private"} <= directives


@pytest.mark.parametrize("path", ["/", "/admin/", "/admin/chat/conversation/"])
def test_other_private_pages_are_not_stored(alice: User, path: str) -> None:
    alice.is_staff = alice.is_superuser = True
    alice.save()
    response = client_for(alice).get(path, follow=True)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


@pytest.mark.parametrize("path", ["/accounts/login/", "/accounts/signup/"])
def test_sign_in_pages_are_not_stored(client: Client, path: str) -> None:
    assert "no-store" in client.get(path)["Cache-Control"]


def signup(username: str) -> Any:
    password = "a fine long passphrase"
    return Client().post(
        "/accounts/signup/", {"username": username, "password1": password, "password2": password}
    )


@pytest.mark.parametrize(
    "lookalike",
    [
        "d\u0435mo",  # Cyrillic e
        "\u0434emo".replace("\u0434", "d").replace("o", "\u043e"),  # Cyrillic o
        "dem\u03bf",  # Greek omicron
        "Demo",  # another case
        "DEMO",
        "\uff44\uff45\uff4d\uff4f",  # full-width: NFKC makes it "demo" itself
    ],
)
def test_a_lookalike_of_an_existing_username_is_refused(
    django_user_model: type[User], lookalike: str
) -> None:
    django_user_model.objects.create_user("demo", password="not the published one 1")
    response = signup(lookalike)
    assert response.status_code == 200
    html = response.content.decode()
    assert "looks like an existing one" in html or "already exists" in html
    assert django_user_model.objects.count() == 1


def test_lookalikes_are_refused_whichever_account_came_first(
    django_user_model: type[User],
) -> None:
    """An account made elsewhere (admin, shell) with a Cyrillic name protects its look too."""
    django_user_model.objects.create_user("p\u0430ypal", password="whatever it is 77")
    assert "looks like an existing one" in signup("paypal").content.decode()


def test_usernames_are_stored_nfkc_normalized(django_user_model: type[User]) -> None:
    assert signup("\uff42\uff4f\uff42\uff42\uff59").status_code == 302  # full-width "bobby"
    assert django_user_model.objects.filter(username="bobby").exists()


def test_a_distinct_name_in_another_script_is_welcome(django_user_model: type[User]) -> None:
    django_user_model.objects.create_user("demo", password="not the published one 1")
    assert signup("\u0434\u0435\u043c\u043e").status_code == 302  # Cyrillic "демо"
    assert signup("demos").status_code == 302


def test_passwords_shorter_than_twelve_characters_are_refused(
    django_user_model: type[User],
) -> None:
    """OWASP ASVS 2.1.1 (Django's default minimum is 8)."""
    response = Client().post(
        "/accounts/signup/",
        {"username": "erin", "password1": "eleven char", "password2": "eleven char"},
    )
    assert "at least 12 characters" in response.content.decode()
    assert not django_user_model.objects.filter(username="erin").exists()
