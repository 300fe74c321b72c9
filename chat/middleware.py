"""The person's time zone, from the `tz` cookie their browser sets (static/chat/features.js)."""

import zoneinfo
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

TIME_ZONE_COOKIE = "tz"


def time_zone_middleware(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """Times and "Today / Yesterday" are in the browser's time zone when it told us one; an
    unknown or malformed name is ignored (the server's zone is used)."""

    def middleware(request: HttpRequest) -> HttpResponse:
        name = request.COOKIES.get(TIME_ZONE_COOKIE, "")[:64]
        try:
            zone = zoneinfo.ZoneInfo(name) if name else None
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            zone = None
        if zone is None:
            timezone.deactivate()
            return get_response(request)
        with timezone.override(zone):
            return get_response(request)

    return middleware
