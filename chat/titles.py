"""Short conversation titles made from the first question, by rule ("Tax on €85,000").

The rule reads the first amount in the question; without one, the question itself is shortened
at a word boundary. A person's rename always wins: titles are only made for untitled
conversations.
"""

import re
from decimal import Decimal, InvalidOperation

TITLE_CHARS = 48

# An amount as people type it: "85,000", "85000", "€85,000.50", "85k", "1.2 million", "85 000".
_AMOUNT = re.compile(
    r"""
    (?<![\w.,])
    (?:€\s*)?
    (?P<number>[0-9]{1,3}(?:[,\u00a0\u202f ][0-9]{3})+(?:\.[0-9]+)?|[0-9]+(?:\.[0-9]+)?)
    \s*
    (?P<scale>k\b|thousand\b|m\b|mn\b|million\b)?
    """,
    re.VERBOSE | re.IGNORECASE,
)
_SCALES = {"k": 1_000, "thousand": 1_000, "m": 1_000_000, "mn": 1_000_000, "million": 1_000_000}
# Years and small counts are not revenues.
_SMALLEST_AMOUNT = Decimal(100)


def amount_in(text: str) -> Decimal | None:
    """The first amount of money in `text` (euros assumed), or None."""
    for match in _AMOUNT.finditer(text):
        digits = re.sub(r"[,\u00a0\u202f ]", "", match["number"])
        try:
            amount = Decimal(digits)
        except InvalidOperation:  # pragma: no cover - the pattern only matches numbers
            continue
        scale = (match["scale"] or "").lower()
        amount *= _SCALES.get(scale, 1)
        if 1900 <= amount <= 2100 and not scale and "€" not in match.group(0):
            continue  # "in 2026": a year
        if amount >= _SMALLEST_AMOUNT or scale:
            return amount
    return None


def format_euros(amount: Decimal) -> str:
    """€85,000 for whole euros, €85,000.50 otherwise."""
    if amount == amount.to_integral_value():
        return f"€{amount:,.0f}"
    return f"€{amount:,.2f}"


def title_from_question(text: str) -> str:
    """A short title for a conversation that starts with `text`."""
    amount = amount_in(text)
    if amount is not None:
        return f"Tax on {format_euros(amount)}"
    printable = "".join(c if c.isprintable() else " " for c in text)  # no NUL or controls
    line = " ".join(printable.split()).rstrip("?!.:; ")
    if not line:
        return ""
    line = line[0].upper() + line[1:]
    if len(line) <= TITLE_CHARS:
        return line
    cut = line[: TITLE_CHARS - 1]
    if " " in cut[TITLE_CHARS // 2 :]:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(",;: ") + "…"
