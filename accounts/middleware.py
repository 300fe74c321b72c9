"""Pages for a signed-in person (transcripts, the admin) are never stored by browsers or proxies."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers


class PrivatePagesNoStoreMiddleware:
    """`Cache-Control: no-store` (Django's never_cache headers) on every response to a
    signed-in request that does not set its own caching: the back button after logging out, a
    shared computer or a caching proxy must not show someone's conversations."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not response.has_header("Cache-Control"):
            add_never_cache_headers(response)
        return response
