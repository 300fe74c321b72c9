"""`manage.py check`: no account with a published password outside development."""

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register

from accounts.unsafe import unsafe_usernames


def _errors() -> list[CheckMessage]:
    names = unsafe_usernames()
    if not names:
        return []
    return [
        Error(
            f"Accounts with a published password exist: {', '.join(sorted(names))}.",
            hint=(
                "These passwords are printed by `make run` and written in the README. Remove "
                "the demo account (manage.py demo_user --remove) or set a new password "
                "(manage.py changepassword NAME) before serving with DEBUG off."
            ),
            id="accounts.E001",
        )
    ]


@register("accounts")
def published_password_check(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """At every start (runserver, migrate, check) with DEBUG off."""
    return [] if settings.DEBUG else _errors()


@register("accounts", deploy=True)
def published_password_deploy_check(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """Under `check --deploy` even with DEBUG on (with it off the check above reports it)."""
    return _errors() if settings.DEBUG else []
