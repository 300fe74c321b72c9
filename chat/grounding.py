"""The grounding check: is every figure in a finished answer traceable to where it may come from?

Pure, for every engine. A currency amount or percentage in the answer is supported when it is a
figure of this turn's tool outputs (with what follows from them: the revenue left after tax, and
how two calculations differ), of the person's own message, or of the tax table (its thresholds
and rates, and what follows from them: the tax at each threshold, each bracket's width and
largest tax, the supported maximum). Figures are compared as values, read by the one
amount reader, so formatting never matters (``14,500``, ``14.500``, ``€14,500.00`` and
``14 500 €`` are one figure), and a figure written with less precision passes when it is the
supported value rounded at that precision and within 1 % of it (``17 %`` for 17.06 %, ``€14.5k``).

Not checked, because they are not amounts: years (``2026``), small bare counts (``3 brackets``,
list numbers), multipliers (``2x``, ``두 배``).
"""

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from chat import amounts
from chat.tools.tax import TABLE, TaxTable, calculate_tax

# Rounding is accepted only when it moves the figure by at most this share of the value.
ROUNDING_TOLERANCE = Decimal("0.01")
CENT = Decimal("0.01")
# Bare numbers below this (without separators or decimals) are counts, not amounts.
SMALLEST_BARE_AMOUNT = 100
# The note lists a few figures; the stored list is capped so a runaway answer stays small.
MAX_UNSUPPORTED = 20
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_NOT_FIGURES = frozenset({"currency", "table_version", "table_effective_from", "call_id", "name"})


@dataclass(frozen=True)
class FigureCheck:
    verified: bool
    unsupported: list[str] = field(default_factory=list)


@dataclass
class _Pool:
    money: set[Decimal] = field(default_factory=set)
    percent: set[Decimal] = field(default_factory=set)


def answer_check_figures(
    *,
    answer: str,
    tool_results: Sequence[Any],
    question: str,
    earlier_results: Sequence[Any] = (),
    table: TaxTable = TABLE,
) -> FigureCheck:
    """Check every figure of `answer`; `unsupported` lists those traced nowhere, as written.

    `tool_results` are this turn's tool results (dicts as stored on the receipt, or output
    strings, errors included). `earlier_results` optionally adds the results of earlier turns of
    the same conversation, for answers that recall an earlier calculation.
    """
    pool = _table_pool(table)
    results = list(tool_results) + list(earlier_results)
    for result in results:
        _collect(result, "", pool)
    _add_differences(results, pool)
    for figure in amounts.scan(question):
        _add_figure(figure, pool)
    unsupported: list[str] = []
    for figure in amounts.scan(answer):
        if not _is_checked(figure) or _supported(figure, pool, question):
            continue
        if figure.text not in unsupported:
            unsupported.append(figure.text)
    return FigureCheck(verified=not unsupported, unsupported=unsupported[:MAX_UNSUPPORTED])


def receipt_results(tool_calls: Iterable[Any]) -> list[Any]:
    """The results of a turn's receipts (ToolCall rows): the result, or the error output."""
    return [call.result if call.result is not None else call.output for call in tool_calls]


def table_figures(table: TaxTable = TABLE) -> tuple[set[Decimal], set[Decimal]]:
    """(amounts, percentages) the table publishes or implies; for tests and the README check."""
    pool = _table_pool(table)
    return pool.money, pool.percent


# --- Sources ------------------------------------------------------------------------------------


def _table_pool(table: TaxTable) -> _Pool:
    pool = _Pool()
    pool.money.update(table.thresholds())
    pool.money.add(amounts.MAX_AMOUNT)
    for bracket in table.brackets:
        pool.percent.add(bracket.rate * 100)
        pool.money.add(calculate_tax(bracket.lower, table=table).tax)
        if bracket.upper is not None:
            pool.money.add(bracket.upper - bracket.lower)
            pool.money.add(calculate_tax(bracket.upper, table=table).tax)
            assert bracket.max_tax is not None
            pool.money.add(bracket.max_tax)
    return pool


def _collect(value: Any, key: str, pool: _Pool) -> None:
    if isinstance(value, Mapping):
        for child_key, child in value.items():
            _collect(child, str(child_key), pool)
    elif isinstance(value, list | tuple):
        for child in value:
            _collect(child, key, pool)
    elif isinstance(value, bool) or value is None or key in _NOT_FIGURES:
        return
    elif isinstance(value, int | float | Decimal):
        _add_number(Decimal(str(value)), key, pool)
    elif isinstance(value, str):
        text = value.strip()
        if _PLAIN_NUMBER.fullmatch(text):
            _add_number(Decimal(text), key, pool)
        elif text.startswith("{"):
            try:
                _collect(json.loads(text), key, pool)
            except (ValueError, RecursionError):
                _add_text(text, pool)
        else:  # an error message or note: the figures it quotes
            _add_text(text, pool)


def _add_number(number: Decimal, key: str, pool: _Pool) -> None:
    if not number.is_finite():
        return
    number = abs(number)
    if "percent" in key:
        pool.percent.add(number)
    elif key == "rate" or key.endswith("_rate"):
        pool.percent.add(number * 100 if number <= 1 else number)
    else:
        pool.money.add(number)


def _add_text(text: str, pool: _Pool) -> None:
    for figure in amounts.scan(text[:10_000]):
        _add_figure(figure, pool)


def _add_figure(figure: amounts.Figure, pool: _Pool) -> None:
    if figure.kind == "percent":
        pool.percent.update(figure.values)
    elif figure.kind != "times":
        pool.money.update(figure.values)


def _add_differences(results: Iterable[Any], pool: _Pool) -> None:
    """What is left after tax, and how two calculations differ ("€4,500 more tax")."""
    rows = []
    for result in results:
        if isinstance(result, str):
            try:
                result = json.loads(result)
            except ValueError:
                continue
        if isinstance(result, Mapping):
            try:
                rows.append((Decimal(str(result["revenue"])), Decimal(str(result["tax"]))))
            except (KeyError, InvalidOperation, TypeError):
                continue
    for revenue, tax in rows:
        pool.money.add(revenue - tax)  # what is left after tax
    for index, (revenue_a, tax_a) in enumerate(rows):
        for revenue_b, tax_b in rows[index + 1 :]:
            pool.money.update({abs(revenue_a - revenue_b), abs(tax_a - tax_b)})


# --- Checking -----------------------------------------------------------------------------------


def _is_checked(figure: amounts.Figure) -> bool:
    if figure.kind in ("year", "times") or not figure.values:
        return False
    if figure.yearlike:  # "the 2026 table"
        return False
    if figure.kind == "bare" and not figure.has_separator:
        value = figure.values[0]
        return value >= SMALLEST_BARE_AMOUNT or value != value.to_integral_value()
    return True


def _supported(figure: amounts.Figure, pool: _Pool, question: str) -> bool:
    if figure.problem == "other_currency":  # "$14,500" is not "€14,500", unless quoted
        return figure.text in question
    if figure.kind == "percent":
        candidates: Iterable[Decimal] = pool.percent
    elif figure.kind == "bare":
        candidates = pool.money | pool.percent
    else:
        candidates = pool.money
    candidates = list(candidates)
    return any(
        _same(value, figure.precision, source) for value in figure.values for source in candidates
    )


def _same(written: Decimal, precision: Decimal, source: Decimal) -> bool:
    if written == source:
        return True
    if precision <= 0:
        return False
    rounded = (source / precision).quantize(Decimal(1), rounding=ROUND_HALF_UP) * precision
    if rounded != written or source == 0:
        return False
    if precision <= CENT:  # to the cent: how euros are written, whatever the share (€0.011)
        return True
    return abs(source - written) / abs(source) <= ROUNDING_TOLERANCE
