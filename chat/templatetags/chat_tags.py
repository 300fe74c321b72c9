import re
from collections.abc import Iterable
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from chat import engines
from chat.amounts import format_euros
from chat.notices import notice_localized
from chat.rendering import markdown_to_safe_html
from chat.streaming import render_blocks
from taxsite import languages

register = template.Library()


@register.filter
def markdown(text: str) -> SafeString:
    """Render Markdown; the output is sanitized by nh3, which is what makes mark_safe sound."""
    return mark_safe(markdown_to_safe_html(text))  # noqa: S308 - sanitized just above


@register.filter
def markdown_blocks(text: str) -> list[SafeString]:
    """A streaming answer's blocks, rendered as the socket's delta frames render them."""
    return [mark_safe(html) for html in render_blocks(text)]  # noqa: S308 - sanitized by nh3


@register.filter
def euros(value: object) -> str:
    """'14500.00' -> '€14,500.00', grouped and pointed as the reader's language writes numbers
    (English and Korean write them alike); anything that is not a number is shown as it is."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    return format_euros(amount) if amount.is_finite() else str(value)


@register.simple_tag
def script_words() -> dict[str, Any]:
    """The page scripts' words in the active language (i18n; taxsite.languages)."""
    return languages.script_words(get_language())


@register.filter
def notice(text: str) -> str:
    """A notice stored on an answer (in English), in the reader's language (chat.notices)."""
    return notice_localized(text)


@register.filter
def engine_label(name: str) -> str:
    """The label of the engine a message was written by (each engine class owns its label)."""
    return _(engines.engine_label(name))  # i18n: labels are msgids (gettext_noop)


# --- features: sidebar groups and search snippets ---------------------------------------------

SNIPPET_CHARS = 140
_MARKDOWN_MARKS = re.compile(r"[*_`#|>]+")


@register.filter
def by_day(conversations: Iterable[Any]) -> list[dict[str, Any]]:
    """Conversations grouped as Today / Yesterday / Earlier, in the active time zone (the
    person's, from their browser; see chat.middleware). Today is there even when empty: it is
    where a conversation that just got its title goes."""
    today = timezone.localdate()
    labels = {"today": _("Today"), "yesterday": _("Yesterday"), "earlier": _("Earlier")}
    groups: dict[str, list[Any]] = {key: [] for key in labels}
    for conversation in conversations:
        day = timezone.localdate(conversation.updated_at)
        key = "today" if day == today else "yesterday" if day == today - timedelta(1) else "earlier"
        groups[key].append(conversation)
    return [
        {"key": key, "label": labels[key], "conversations": items}
        for key, items in groups.items()
        if items or key == "today"
    ]


@register.filter
def snippet(text: str, query: str) -> SafeString:
    """A short excerpt of `text` around the first word of `query`, that word marked."""
    text = " ".join(_MARKDOWN_MARKS.sub("", text).split())
    words = [w for w in query.split() if w]
    lowered = text.lower()
    start = min((i for i in (lowered.find(w.lower()) for w in words) if i >= 0), default=0)
    begin = max(0, start - SNIPPET_CHARS // 3)
    excerpt = text[begin : begin + SNIPPET_CHARS]
    prefix = "…" if begin else ""
    suffix = "…" if begin + SNIPPET_CHARS < len(text) else ""
    if not words:
        return format_html("{}{}{}", prefix, excerpt, suffix)
    # The whole phrase where it appears, else each word.
    terms = [" ".join(words), *words] if len(words) > 1 else words
    pattern = re.compile("|".join(re.escape(t) for t in terms), re.IGNORECASE)
    parts: list[str] = []
    last = 0
    for match in pattern.finditer(excerpt):
        parts.append(str(escape(excerpt[last : match.start()])))
        parts.append(str(format_html("<mark>{}</mark>", match.group(0))))
        last = match.end()
    parts.append(str(escape(excerpt[last:])))
    return mark_safe(escape(prefix) + "".join(parts) + escape(suffix))  # noqa: S308 - escaped
