"""What the offline engine will do with a message: calculate (and on what), or just reply.

Pure: the person's text and the conversation's history in, a plan out. The engine's stream()
only runs the plan's tool call and says the composed answer (chat.engines.offline_compose).
"""

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from chat import amounts
from chat.engines.base import PastMessage
from chat.engines.offline_text import Lang, say
from chat.tools.tax import TABLE, Bracket, calculate_tax

CENT = Decimal("0.01")
Focus = Literal["tax", "marginal", "effective", "bracket"]
Basis = Literal["read", "previous", "times", "percent", "delta"]


@dataclass(frozen=True)
class Calculate:
    """Call calculate_tax with `argument`, then compose the answer for `focus`."""

    lang: Lang
    argument: str
    focus: Focus = "tax"
    basis: Basis = "read"
    # How the revenue was derived from an earlier one (basis times/percent/delta).
    factor: Decimal | None = None
    percent: Decimal | None = None
    delta: Decimal | None = None
    more: bool = True
    # The base of a derivation written in this message ("10 % more than 50k"), if any.
    base: Decimal | None = None
    bracket_rate: Decimal | None = None
    # Set when the reader refused the amount: the tool is still called with what was written,
    # so the calculation card records the refusal, and the answer says why in the person's words.
    problem: str = ""
    written: str = ""


@dataclass(frozen=True)
class Reply:
    lang: Lang
    text: str


Plan = Calculate | Reply

_I = re.IGNORECASE
_TOPIC = re.compile(
    r"tax|revenue|income|earn|turnover|owe|salary|profit|pay|세금|세액|소득|수입|매출|연봉|벌|번다|유로|€|\beur",
    _I,
)
_MARGINAL = re.compile(
    r"marginal|top rate|which bracket|what bracket|bracket am i|한계\s?세율|최고\s?세율|"
    r"어느\s?구간|무슨\s?구간|몇\s?%\s?구간",
    _I,
)
_EFFECTIVE = re.compile(r"effective|average (?:tax )?rate|overall rate|실효\s?세율|평균\s?세율", _I)
_BRACKET = re.compile(
    r"(?<![0-9.,])([0-9]+(?:[.,][0-9]+)?)\s?(?:%|percent|퍼센트|프로)\s?(?:tax\s)?"
    r"(?:bracket|band|tier|slab|rate|구간|세율|과세\s?구간)|"
    r"(?:bracket|band|tier)\s(?:of|at)\s([0-9]+(?:[.,][0-9]+)?)\s?%",
    _I,
)
_TABLE = re.compile(r"bracket|\bbands?\b|tax table|\brates\b|\btable\b|세율표|구간|세율", _I)
_EXPLAIN = re.compile(r"explain|how (?:is|was|did)|why|breakdown|설명|어떻게|왜", _I)
_MORE = re.compile(
    r"\bmore\b|higher|increase|\bup\b|raise|\bextra\b|additional|another|on top|plus|"
    r"더(?![가-힣])|늘면|늘리|늘어|증가|인상|많이|많으면|많다면|많게",
    _I,
)
_LESS = re.compile(
    r"\bless\b|lower|decrease|\bdown\b|\bcut\b|fewer|minus|"
    r"덜|적으면|적게|적을|적다면|줄면|줄이|줄어|감소|인하|빼",
    _I,
)
_TIMES_WORDS: tuple[tuple[re.Pattern[str], Decimal], ...] = (
    (re.compile(r"\b(?:twice|double|doubled)\b|두\s?배", _I), Decimal(2)),
    (re.compile(r"\b(?:triple|tripled|thrice|three times)\b|세\s?배", _I), Decimal(3)),
    (re.compile(r"\b(?:quadruple|four times)\b|네\s?배", _I), Decimal(4)),
    (re.compile(r"\b(?:half|halved)\b|절반|반으로", _I), Decimal("0.5")),
)
_TIMES_SYMBOL = re.compile(r"(?<![A-Za-z])(?:[x\u00d7]\s?([0-9]+(?:\.[0-9]+)?))(?![0-9])", _I)
_FOLLOW_UP_WORDS = 8


def plan_turn(*, text: str, history: Sequence[PastMessage]) -> Plan:
    """Decide how to answer `text`, given the earlier messages of the conversation."""
    lang: Lang = "ko" if amounts.has_hangul(text) else "en"
    previous = last_revenue(history)
    figures = amounts.scan(text)
    reading = amounts.read_amount(text)
    focus = _focus(text)
    bracket_rate = _bracket_rate(text)

    if reading.status == "refused" and reading.figure is not None:
        return Calculate(
            lang=lang,
            argument=reading.figure.text[: amounts.MAX_DIGITS + 10],
            problem=reading.reason,
            written=reading.figure.text,
        )
    if reading.status == "ambiguous":
        return Reply(lang, _ambiguous_text(lang, text, reading))
    if bracket_rate is not None and TABLE.bracket_for_rate(bracket_rate) is None:
        rates = ", ".join(f"{b.rate_percent} %" for b in TABLE.brackets)
        return Reply(lang, say(lang, "no_such_bracket", rate=_plain(bracket_rate), rates=rates))

    amount = reading.amount
    factor = _factor(text, figures)
    percent = next((f.value for f in figures if f.kind == "percent" and f.value is not None), None)
    if bracket_rate is not None and percent == bracket_rate:
        percent = None  # "the 20 % bracket" is not a change of 20 %
    more, less = bool(_MORE.search(text)), bool(_LESS.search(text))
    changing = more != less  # one direction named, not both

    base = amount if amount is not None else previous
    if factor is not None:
        if base is None:
            return Reply(lang, say(lang, "no_previous"))
        return _derived(lang, base * factor, basis="times", factor=factor, base=amount, focus=focus)
    if percent is not None and changing:
        if base is None:
            return Reply(lang, say(lang, "no_previous"))
        change = base * percent / 100
        new = base + change if more else base - change
        return _derived(
            lang, new, basis="percent", percent=percent, more=more, base=amount, focus=focus
        )
    if amount is not None:
        if previous is not None and changing and _is_follow_up(text):
            new = previous + amount if more else previous - amount
            return _derived(lang, new, basis="delta", delta=amount, more=more, focus=focus)
        assert reading.figure is not None
        if (
            reading.figure.kind == "money"
            or _TOPIC.search(text)
            or previous is not None
            or _is_follow_up(text)
        ):
            return Calculate(
                lang=lang,
                argument=amounts.format_plain(_cents(amount)),
                focus=focus,
                bracket_rate=bracket_rate,
            )
        return Reply(lang, say(lang, "help"))
    if focus != "tax" or (_EXPLAIN.search(text) and previous is not None):
        if previous is None:
            if focus == "bracket" and bracket_rate is not None:
                return Reply(lang, bracket_text(lang, TABLE.bracket_for_rate(bracket_rate)))
            return Reply(lang, say(lang, "no_previous"))
        return Calculate(
            lang=lang,
            argument=amounts.format_plain(previous),
            focus=focus,
            basis="previous",
            bracket_rate=bracket_rate,
        )
    if _TABLE.search(text):
        return Reply(lang, table_text(lang))
    if (percent is not None or more or less) and previous is None and _is_follow_up(text):
        return Reply(lang, say(lang, "no_previous"))
    return Reply(lang, say(lang, "help"))


def last_revenue(history: Sequence[PastMessage]) -> Decimal | None:
    """The revenue of the newest successful calculation in the conversation, if any."""
    for message in reversed(history):
        for call in reversed(message.tool_calls):
            if call.name != "calculate_tax":
                continue
            try:
                data = json.loads(call.output)
                return Decimal(str(data["revenue"]))
            except (ValueError, KeyError, TypeError, ArithmeticError):
                continue
    return None


def bracket_text(lang: Lang, bracket: Bracket | None) -> str:
    assert bracket is not None
    euros = amounts.format_euros
    tax_lower = calculate_tax(bracket.lower).tax
    if bracket.upper is None:
        return say(
            lang,
            "bracket_top",
            rate=bracket.rate_percent,
            lower=euros(bracket.lower),
            tax_lower=euros(tax_lower),
        )
    assert bracket.max_tax is not None
    return say(
        lang,
        "bracket",
        rate=bracket.rate_percent,
        lower=euros(bracket.lower),
        upper=euros(bracket.upper),
        max_tax=euros(bracket.max_tax),
        tax_lower=euros(tax_lower),
        tax_upper=euros(calculate_tax(bracket.upper).tax),
    )


def table_text(lang: Lang) -> str:
    euros = amounts.format_euros
    lines = [
        say(lang, "table_intro", version=TABLE.version, date=TABLE.effective_from.isoformat()),
        "",
    ]
    for bracket in TABLE.brackets:
        if bracket.upper is None:
            lines.append(
                say(lang, "table_line_top", rate=bracket.rate_percent, lower=euros(bracket.lower))
            )
        else:
            lines.append(
                say(
                    lang,
                    "table_line",
                    rate=bracket.rate_percent,
                    lower=euros(bracket.lower),
                    upper=euros(bracket.upper),
                )
            )
    lines += ["", say(lang, "table_outro"), "", say(lang, "footer")]
    return "\n".join(lines)


# --- Helpers -------------------------------------------------------------------------------------


def _derived(lang: Lang, value: Decimal, *, basis: Basis, focus: Focus, **how: object) -> Plan:
    if value < 0:
        return Reply(lang, say(lang, "negative_result"))
    return Calculate(
        lang=lang,
        argument=amounts.format_plain(_cents(value)),
        basis=basis,
        focus=focus,
        **how,  # type: ignore[arg-type]
    )


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP).normalize()


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _focus(text: str) -> Focus:
    if _BRACKET.search(text):
        return "bracket"
    if _MARGINAL.search(text):
        return "marginal"
    if _EFFECTIVE.search(text):
        return "effective"
    return "tax"


def _bracket_rate(text: str) -> Decimal | None:
    match = _BRACKET.search(text)
    if match is None:
        return None
    return Decimal((match[1] or match[2]).replace(",", "."))


def _factor(text: str, figures: Sequence[amounts.Figure]) -> Decimal | None:
    for figure in figures:
        if figure.kind == "times" and figure.value is not None:
            return figure.value
    symbol = _TIMES_SYMBOL.search(text)
    if symbol is not None:
        return Decimal(symbol[1])
    for pattern, factor in _TIMES_WORDS:
        if pattern.search(text):
            return factor
    return None


def _is_follow_up(text: str) -> bool:
    """A short message ("and on 50k?", "5천 유로 더?") continues the conversation."""
    return len(text.split()) <= _FOLLOW_UP_WORDS


def _ambiguous_text(lang: Lang, text: str, reading: amounts.Reading) -> str:
    if reading.reason == "separator" and reading.figure is not None:
        low, high = sorted(reading.figure.values)
        return say(
            lang,
            "ambiguous_separator",
            text=reading.figure.text,
            high=amounts.format_euros(high),
            low=amounts.format_euros(low),
            high_plain=amounts.format_plain(high),
            low_plain=amounts.format_plain(low),
        )
    if reading.reason == "range":
        first, second = reading.options
        return say(lang, "ambiguous_range", text=text[first.start : second.end])
    shown = [
        " / ".join(amounts.format_euros(v) for v in figure.values) for figure in reading.options
    ]
    return say(lang, "ambiguous_several", amounts=say(lang, "and").join(shown))
