"""Accounts whose password is published (the local demo account's, printed by `make run` and
written in the README): refused in production by a system check and by the server itself."""

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password
from django.db import DatabaseError
from django.db.models import Q

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "taxsite-demo"  # noqa: S105 - published on purpose: a local development account

PUBLISHED_PASSWORDS = (DEMO_PASSWORD,)


def unsafe_usernames() -> list[str]:
    """Active accounts that can be opened with a published password: the demo account and every
    staff account (the ones that reach /admin/). Hashes are checked without being upgraded."""
    users = get_user_model().objects.filter(
        Q(username=DEMO_USERNAME) | Q(is_staff=True) | Q(is_superuser=True), is_active=True
    )
    try:
        accounts = list(users.values_list("username", "password"))
    except DatabaseError:  # no database yet, or not migrated: nothing to serve anyway
        return []
    return [
        username
        for username, encoded in accounts
        if any(check_password(password, encoded) for password in PUBLISHED_PASSWORDS)
    ]
