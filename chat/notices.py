"""Notices stored on answers (`Message.status_notice`), shown in the reader's language (i18n).

A turn ends in a background task with no reader, and one conversation may be read in English
and in Korean: so a notice is stored as its English text (what staff, exports and the admin
read) and translated when a page renders it. Each notice's English text is its gettext msgid
(marked with gettext_noop where it is defined). Notices with a value in them (a wait, a model
name, a number) are listed here as templates; the stored text is read back through them and
its values translated in turn (the wait phrase inside the 429 notice). A provider's own words
("The AI provider reported an error: ...") stay as the provider wrote them.
"""

import re
from functools import cache

from django.utils.translation import gettext

from chat.engines.base import TOOL_LOOP
from chat.engines.errors import CUT_SHORT, NOT_FOUND_MODEL, RATE_LIMITED, WAIT_MINUTES, WAIT_SECONDS
from chat.engines.rounds import TOO_MANY_CALLS
from chat.engines.wire import PROVIDER_ERROR_SAID

# The notices with values, as they are formatted where they are made (str.format fields).
TEMPLATES: tuple[str, ...] = (
    RATE_LIMITED,
    WAIT_SECONDS,
    WAIT_MINUTES,
    NOT_FOUND_MODEL,
    TOO_MANY_CALLS,
    TOOL_LOOP,
    CUT_SHORT,
    PROVIDER_ERROR_SAID,
)
_FIELD = re.compile(r"\\\{(\w+)\\\}")


@cache
def _patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    return tuple(
        (template, re.compile(_FIELD.sub(r"(?P<\1>.+?)", re.escape(template)), re.DOTALL))
        for template in TEMPLATES
    )


def notice_localized(text: str) -> str:
    """A stored notice in the active language; text that is no notice of ours is kept."""
    if not text:
        return text
    translated = gettext(text)
    if translated != text:
        return translated
    for template, pattern in _patterns():
        match = pattern.fullmatch(text)
        if match is not None:
            values = {name: notice_localized(value) for name, value in match.groupdict().items()}
            return gettext(template).format(**values)
    return text
