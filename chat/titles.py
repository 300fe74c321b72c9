"""Short conversation titles made from the first question, by rule ("Tax on €85,000").

The rule reads the amount the question is about (chat.amounts); without one, the question is
shortened at a word boundary. A person's rename always wins: titles are only made for untitled
conversations.
"""

from decimal import Decimal

from chat.amounts import format_euros, read_amount

TITLE_CHARS = 48


def amounts_in(text: str) -> list[Decimal]:
    """The amount the question is about (or the two it compares), read by chat.amounts: the
    same reader as the tax tool, so "85k", "85.000 €" and "8만 5천 유로" all count."""
    reading = read_amount(text)
    if reading.status == "found" and reading.amount is not None:
        return [reading.amount]
    if reading.status == "ambiguous" and reading.reason in ("several", "range"):
        values = [o.value for o in reading.options if o.value is not None]
        if len(values) == len(reading.options) == 2:
            return values
    return []


def title_from_question(text: str) -> str:
    """A short title for a conversation that starts with `text`."""
    found = amounts_in(text)
    if found:
        return "Tax on " + " and ".join(format_euros(a, drop_zero_cents=True) for a in found)
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
