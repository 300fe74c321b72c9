"""The tax table for templates: the page's disclaimer and the card render from the one table."""

from django import template
from django.utils.translation import gettext as _

from chat.amounts import format_euros
from chat.tools.tax import TABLE, TaxTable

register = template.Library()


@register.simple_tag
def tax_table() -> TaxTable:
    return TABLE


@register.simple_tag
def tax_table_summary() -> str:
    """TaxTable.summary() in the reader's language (in English, word for word the same)."""
    parts = []
    for index, bracket in enumerate(TABLE.brackets):
        # "% a" and "% u" look like printf conversions to xgettext; these are brace formats.
        if bracket.upper is None:
            # xgettext:no-python-format
            parts.append(_("{rate} % above").format(rate=bracket.rate_percent))
            continue
        # xgettext:no-python-format
        wording = _("{rate} % up to {amount}") if index == 0 else _("{rate} % to {amount}")
        amount = format_euros(bracket.upper, drop_zero_cents=True)
        parts.append(wording.format(rate=bracket.rate_percent, amount=amount))
    return _("; ").join(parts)
