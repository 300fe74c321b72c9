"""Sign-in forms that say how long to wait when throttled, instead of "wrong password"."""

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm
from django.utils.translation import gettext as _

from accounts.backends import THROTTLED_ATTRIBUTE
from accounts.throttle import throttle_hit, throttle_reset, wait_phrase

THROTTLED = "throttled"
"""The error code of every throttled refusal (views answer it with 429)."""


def throttled_error(seconds: float) -> forms.ValidationError:
    return forms.ValidationError(
        _("Too many attempts. %(wait)s"),
        code=THROTTLED,
        params={"wait": wait_phrase(seconds), "seconds": seconds},
    )


class ThrottleMessageMixin:
    request: Any

    def get_invalid_login_error(self) -> forms.ValidationError:
        wait = getattr(self.request, THROTTLED_ATTRIBUTE, None)
        if wait:
            return throttled_error(wait)
        return super().get_invalid_login_error()  # type: ignore[misc, no-any-return]


class LoginForm(ThrottleMessageMixin, AuthenticationForm):
    pass


class AdminLoginForm(ThrottleMessageMixin, AdminAuthenticationForm):
    pass


class ThrottledPasswordChangeForm(PasswordChangeForm):
    """Old-password guesses (from a borrowed session) are throttled per account."""

    def clean_old_password(self) -> str:
        key = str(self.user.pk)
        wait = throttle_hit(scope="password-change", key=key)
        if wait:
            raise throttled_error(wait)
        old_password: str = super().clean_old_password()
        throttle_reset(scope="password-change", key=key)
        return old_password
