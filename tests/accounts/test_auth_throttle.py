"""Login, sign-up and password-change throttling: growing delays, never a lockout for the owner."""

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.models import AuthThrottle
from accounts.throttle import throttle_delay, throttle_hit, wait_phrase

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
RIGHT = "correct horse 1"  # alice's password (conftest)


def login(client: Client, username: str = "alice", password: str = "wrong") -> Any:  # noqa: S107
    return client.post(LOGIN, {"username": username, "password": password})


def wait_is_over() -> None:
    """As if every current wait had passed."""
    AuthThrottle.objects.update(blocked_until=timezone.now() - timedelta(seconds=1))


def test_delays_grow_and_are_capped(settings: Any) -> None:
    settings.AUTH_THROTTLES = {"t": {"free": 3, "delay": 60, "max_delay": 900}}
    assert [throttle_delay(scope="t", hits=n) for n in range(1, 10)] == [
        0, 0, 60, 120, 240, 480, 900, 900, 900,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("seconds", "phrase"),
    [
        (0.2, "Try again in 1 second."),
        (1, "Try again in 1 second."),
        (59, "Try again in 59 seconds."),
        (59.99, "Try again in 1 minute."),
        (60, "Try again in 1 minute."),
        (61, "Try again in 2 minutes."),
        (120, "Try again in 2 minutes."),
        (3540, "Try again in 59 minutes."),
        (3599, "Try again in 1 hour."),
        (3600, "Try again in 1 hour."),
        (7200, "Try again in 2 hours."),
        (86_400, "Try again in 24 hours."),
        (86_401, "Try again later."),
        (16_666_666_667 * 60, "Try again later."),
    ],
)
def test_waits_are_said_in_human_units(seconds: float, phrase: str) -> None:
    assert wait_phrase(seconds) == phrase


def test_wrong_passwords_bring_growing_delays_not_a_lock(alice: User) -> None:
    client = Client()
    for _ in range(5):
        assert login(client).status_code == 200  # "Please enter a correct username..."
    refused = login(client, password=RIGHT)  # even the right password waits now
    assert refused.status_code == 429
    assert refused["Retry-After"] == "60"
    assert "Too many attempts. Try again in 1 minute." in refused.content.decode()
    assert "_auth_user_id" not in client.session
    wait_is_over()
    assert login(client).status_code == 200  # one more guess after the wait...
    refused = login(client, password=RIGHT)
    assert refused.status_code == 429  # ...and the next wait is twice as long
    assert "Try again in 2 minutes." in refused.content.decode()
    wait_is_over()
    assert login(client, password=RIGHT).status_code == 302  # the wait always ends


def test_rotating_addresses_do_not_reset_the_account_limit(alice: User) -> None:
    for n in range(5):
        login(Client(REMOTE_ADDR=f"198.51.100.{n}"))
    refused = login(Client(REMOTE_ADDR="198.51.100.200"), password=RIGHT)
    assert refused.status_code == 429


def test_the_owner_is_not_locked_out_by_strangers_guessing(alice: User) -> None:
    """A browser that signed in to the account before (a device cookie) has its own counter."""
    owner = Client(REMOTE_ADDR="203.0.113.7")
    assert login(owner, password=RIGHT).status_code == 302
    owner.post("/accounts/logout/")
    for n in range(12):
        login(Client(REMOTE_ADDR=f"198.51.100.{n}"))
    assert login(Client(REMOTE_ADDR="198.51.100.99"), password=RIGHT).status_code == 429
    assert login(owner, password=RIGHT).status_code == 302


def test_a_device_cookie_of_another_account_or_forged_does_not_help(alice: User, bob: User) -> None:
    browser = Client()
    assert login(browser, "bob", "correct horse 2").status_code == 302
    browser.post("/accounts/logout/")
    for _ in range(5):
        login(Client(REMOTE_ADDR="198.51.100.1"))
    assert login(browser, password=RIGHT).status_code == 429  # bob's cookie is not alice's
    forged = Client()
    forged.cookies["taxsite_device"] = "alice:whatever"
    assert login(forged, password=RIGHT).status_code == 429


def test_the_owners_device_is_throttled_too_when_it_guesses(alice: User) -> None:
    owner = Client()
    login(owner, password=RIGHT)
    owner.post("/accounts/logout/")
    for _ in range(5):
        login(owner)
    assert login(owner, password=RIGHT).status_code == 429


def test_spraying_many_accounts_from_one_address_is_slowed(
    django_user_model: type[User],
) -> None:
    sprayer = Client(REMOTE_ADDR="198.51.100.50")
    for n in range(20):
        assert login(sprayer, f"user{n}", "Winter2026!").status_code == 200
    refused = login(sprayer, "user99", "Winter2026!")
    assert refused.status_code == 429
    assert "Try again in 1 minute." in refused.content.decode()
    django_user_model.objects.create_user(username="carol", password="carol's own pass 9")
    assert (
        login(Client(REMOTE_ADDR="198.51.100.51"), "carol", "carol's own pass 9").status_code == 302
    )


def test_successful_logins_do_not_count_against_a_shared_address(
    django_user_model: type[User],
) -> None:
    """An office behind one address: 30 people signing in are not spraying."""
    for n in range(30):
        django_user_model.objects.create_user(username=f"staffer{n}", password="a long passphrase")
        office = Client(REMOTE_ADDR="192.0.2.10")
        assert login(office, f"staffer{n}", "a long passphrase").status_code == 302


def test_behind_a_proxy_each_client_is_counted_by_its_own_address(
    alice: User, settings: Any
) -> None:
    """Everyone arrives from the proxy's address; X-Forwarded-For (last hop) tells them apart,
    and whatever a client writes further left cannot change its key."""
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    for n in range(20):
        forged = f"192.0.2.{n}, 198.51.100.66"
        login(Client(**proxy, HTTP_X_FORWARDED_FOR=forged), f"nobody{n}")
    assert login(Client(**proxy, HTTP_X_FORWARDED_FOR="198.51.100.66"), "x").status_code == 429
    neighbour = Client(**proxy, HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert login(neighbour, password=RIGHT).status_code == 302


def test_admin_login_is_throttled_with_the_same_message(alice: User) -> None:
    alice.is_staff = True
    alice.save()
    client = Client()
    for _ in range(5):
        client.post("/admin/login/", {"username": "alice", "password": "wrong"})
    refused = client.post("/admin/login/", {"username": "alice", "password": RIGHT})
    assert "Too many attempts. Try again in 1 minute." in refused.content.decode()
    assert "_auth_user_id" not in client.session


def test_counters_are_forgotten_after_a_quiet_day(alice: User) -> None:
    client = Client()
    for _ in range(4):
        login(client)
    AuthThrottle.objects.update(last_hit=timezone.now() - timedelta(days=1, seconds=1))
    for _ in range(4):
        assert login(client).status_code == 200
    assert login(client, password=RIGHT).status_code == 302


@pytest.mark.django_db(transaction=True)
def test_a_parallel_burst_gets_no_more_attempts_than_the_limit(settings: Any) -> None:
    if connection.vendor == "sqlite":
        # The test database is SQLite in memory (shared cache), which reports "table is locked"
        # instead of waiting; the served file database waits (timeout 20 s, IMMEDIATE).
        pytest.skip("runs on PostgreSQL (make test-postgres)")
    settings.AUTH_THROTTLES = {"t": {"free": 5, "delay": 60, "max_delay": 900}}
    allowed: list[bool] = []
    start = threading.Barrier(12)

    def attempt() -> None:
        start.wait(timeout=30)
        try:
            allowed.append(throttle_hit(scope="t", key="alice") == 0)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=attempt) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(allowed) == 12
    assert allowed.count(True) == 5


# --- Sign-up ------------------------------------------------------------------------------------


def signup(client: Client, username: str, password: str = "a fine long passphrase") -> Any:  # noqa: S107
    return client.post(
        "/accounts/signup/", {"username": username, "password1": password, "password2": password}
    )


def test_signups_from_one_address_are_throttled(django_user_model: type[User]) -> None:
    for n in range(3):
        assert signup(Client(REMOTE_ADDR="198.51.100.8"), f"newcomer{n}").status_code == 302
    refused = signup(Client(REMOTE_ADDR="198.51.100.8"), "newcomer3")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) == 600
    html = refused.content.decode()
    assert "Too many new accounts from your address. Try again in 10 minutes." in html
    assert not django_user_model.objects.filter(username="newcomer3").exists()
    assert signup(Client(REMOTE_ADDR="198.51.100.9"), "elsewhere").status_code == 302
    wait_is_over()
    assert signup(Client(REMOTE_ADDR="198.51.100.8"), "newcomer3").status_code == 302
    again = signup(Client(REMOTE_ADDR="198.51.100.8"), "newcomer4")
    assert "Try again in 20 minutes." in again.content.decode()


def test_a_signup_form_with_mistakes_does_not_use_up_the_allowance() -> None:
    client = Client(REMOTE_ADDR="198.51.100.8")
    for _ in range(6):
        assert signup(client, "typo", password="short").status_code == 200
    assert signup(client, "typo").status_code == 302


# --- Password change ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/accounts/password_change/", "/admin/password_change/"])
def test_old_password_guesses_are_throttled(alice: User, path: str) -> None:
    alice.is_staff = True
    alice.save()
    client = Client()
    client.force_login(alice)

    def change(old: str) -> Any:
        return client.post(
            path,
            {
                "old_password": old,
                "new_password1": "brand new phrase 7",
                "new_password2": "brand new phrase 7",
            },
        )

    for _ in range(5):
        assert "incorrect" in change("guess").content.decode()
    refused = change(RIGHT)
    assert refused.status_code == 429
    assert "Too many attempts. Try again in 1 minute." in refused.content.decode()
    alice.refresh_from_db()
    assert alice.check_password(RIGHT)
    wait_is_over()
    assert change(RIGHT).status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("brand new phrase 7")
