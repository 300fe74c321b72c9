from decimal import Decimal, InvalidOperation

from django import template
from django.utils.safestring import SafeString, mark_safe

from chat import engines
from chat.rendering import markdown_to_safe_html
from chat.streaming import render_blocks

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
    """'14500.00' -> '€14,500.00'; anything that is not a number is shown as it is."""
    try:
        return f"€{Decimal(str(value)):,.2f}"
    except (InvalidOperation, ValueError):
        return str(value)


@register.filter
def engine_label(name: str) -> str:
    """The label of the engine a message was written by (each engine class owns its label)."""
    return engines.engine_label(name)
