"""Every password check through `authenticate()` (our login page, the admin's) is throttled."""

import logging
from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from accounts.addresses import client_address
from accounts.devices import device_id
from accounts.throttle import throttle_forgive, throttle_hit, throttle_reset
from accounts.usernames import username_skeleton

logger = logging.getLogger(__name__)

THROTTLED_ATTRIBUTE = "auth_throttle_wait"
"""Set on the request to the seconds to wait when a login was refused unchecked."""


class ThrottledModelBackend(ModelBackend):
    """ModelBackend behind two throttles: per address (one client spraying many accounts) and
    per account (many clients guessing one), the latter per device for browsers that signed in
    to the account before. A throttled attempt is refused without checking the password."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if request is None or username is None or password is None:
            return super().authenticate(request, username, password, **kwargs)
        address = client_address(request)
        device = device_id(request=request, username=username)
        account = (
            ("login-device", device) if device else ("login-account", username_skeleton(username))
        )
        for scope, key in (("login-address", address), account):
            wait = throttle_hit(scope=scope, key=key)
            if wait:
                setattr(request, THROTTLED_ATTRIBUTE, wait)
                logger.warning("Login throttled (%s %s) for %r", scope, key, username)
                raise PermissionDenied
        user = super().authenticate(request, username, password, **kwargs)
        if user is None:
            logger.info("Login failed for %r from %s", username, address)
            return None
        throttle_reset(scope=account[0], key=account[1])
        throttle_forgive(scope="login-address", key=address)
        return user
