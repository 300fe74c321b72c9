"""The tax table for templates: the page's disclaimer and the card render from the one table."""

from django import template

from chat.tools.tax import TABLE, TaxTable

register = template.Library()


@register.simple_tag
def tax_table() -> TaxTable:
    return TABLE
