"""The request type of views that read django-htmx's `request.htmx` (set by HtmxMiddleware)."""

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails
