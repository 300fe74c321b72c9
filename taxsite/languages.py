"""The language a socket speaks, chosen by Django's own rule (the switch's cookie, then the
browser's Accept-Language, then LANGUAGE_CODE), as LocaleMiddleware chooses it for a page."""

from collections.abc import Callable, Collection, Mapping
from functools import cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import translation
from django.utils.translation.trans_real import DjangoTranslation
from django.views.i18n import JavaScriptCatalog


def language_from_scope(scope: Mapping[str, Any]) -> str:
    """The language of a socket's page, from its handshake's cookies and headers."""
    request = HttpRequest()
    request.COOKIES = dict(scope.get("cookies") or {})
    for name, value in scope.get("headers") or ():
        if name.lower() == b"accept-language":
            request.META["HTTP_ACCEPT_LANGUAGE"] = value.decode("latin-1")
    return translation.get_language_from_request(request)


@cache
def script_words(language: str) -> dict[str, Any]:
    """The words of our page scripts (the `djangojs` catalogue of LOCALE_PATHS) in a language,
    read with Django's JavaScriptCatalog. The page embeds them as JSON data (json_script): no
    script of ours is generated, so every script stays a hashed static file under the CSP."""
    view = JavaScriptCatalog(domain="djangojs")
    view.translation = DjangoTranslation(
        language, domain="djangojs", localedirs=[str(path) for path in settings.LOCALE_PATHS]
    )
    return view.get_catalog()


def in_every_language(
    render: Callable[[], str], only: Collection[str] | None = None
) -> dict[str, str]:
    """`render()` once per language of the site (or of `only`, the languages of the sockets
    that will receive it): what a background task sends to readers who may each speak
    another language."""
    rendered = {}
    for code, _name in settings.LANGUAGES:
        if only is None or code in only:
            with translation.override(code):
                rendered[code] = render()
    return rendered
