"""`manage.py check`: no account with a published password outside development."""

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

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


@register("accounts", deploy=True)
def proxy_address_check(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """Behind a TLS proxy, every client arrives from the proxy's address: the per-address
    throttles would then count everyone together unless TRUSTED_PROXY_COUNT says so."""
    if settings.SECURE_PROXY_SSL_HEADER and settings.TRUSTED_PROXY_COUNT == 0:
        return [
            Warning(
                "Behind a proxy (TRUST_X_FORWARDED_PROTO) with TRUSTED_PROXY_COUNT=0: every "
                "client shares the proxy's address for sign-in and sign-up throttling.",
                hint="Set TRUSTED_PROXY_COUNT to the number of proxies that append to "
                "X-Forwarded-For (1 for one nginx).",
                id="accounts.W001",
            )
        ]
    return []
