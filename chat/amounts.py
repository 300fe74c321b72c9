"""The one amount reader: money figures in what people (and models) write, read exactly.

Pure Python, no Django. Used by the offline engine (a person's message), the tax tool (its
`revenue` argument, whole-string mode) and the grounding check (the figures of an answer).

What it reads: thousands separators of every common style (``85,000``, ``85.000``, ``85 000``
with plain, no-break or narrow spaces, ``85'000``), a decimal comma (``85.000,50``), suffixes
(``k``, ``M``, ``mio``, ``million``, ``bn``, ``billion``), the euro before or after (``€``,
``EUR``, ``euro(s)``, ``유로``), and Korean amounts (``8만 5천``, ``1억 2천만``,
``팔만 오천 유로``).
What it refuses, never silently changing the figure: negatives, scientific notation,
non-finite values, absurd sizes, other currencies. What it will not guess: ``1.200`` with no
hint of the convention, two different amounts, a range.
"""

import itertools
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Literal, Protocol

# A trillion euros is far beyond any real revenue and keeps Decimal work tiny.
MAX_AMOUNT = Decimal("1000000000000")
# Digits beyond this are absurd for money whatever their value; refused before any arithmetic.
MAX_DIGITS = 30

Kind = Literal["money", "bare", "percent", "times", "year"]
Problem = Literal[
    "", "negative", "scientific", "non_finite", "too_large", "other_currency", "unreadable"
]

_SPACES = " \u00a0\u202f\u2009"
_MULTIPLIERS: dict[str, Decimal] = {
    "k": Decimal(1000),
    "thousand": Decimal(1000),
    "thousands": Decimal(1000),
    "tsd": Decimal(1000),
    "m": Decimal(1000000),
    "mn": Decimal(1000000),
    "mio": Decimal(1000000),
    "million": Decimal(1000000),
    "millions": Decimal(1000000),
    "bn": Decimal(1000000000),
    "billion": Decimal(1000000000),
    "billions": Decimal(1000000000),
}
_KO_DIGITS = {
    "영": 0,
    "공": 0,
    "일": 1,
    "이": 2,
    "삼": 3,
    "사": 4,
    "오": 5,
    "육": 6,
    "칠": 7,
    "팔": 8,
    "구": 9,
}
_KO_SMALL = {"십": Decimal(10), "백": Decimal(100), "천": Decimal(1000)}
_KO_BIG = {"만": Decimal(10) ** 4, "억": Decimal(10) ** 8, "조": Decimal(10) ** 12}

_KO_NUM = r"[0-9]+(?:[.,][0-9]+)*|[영공일이삼사오육칠팔구]"
_KO_SEG = rf"(?:(?:{_KO_NUM})\s?)?[십백천만억조]"
# The core of one figure; prefixes (sign, currency) and suffixes are read around it.
_CORE = re.compile(
    rf"""
    (?<![A-Za-z0-9_.,])(?<![A-Za-z_]-)
    (?:
        (?P<sci>[0-9]+(?:[.,][0-9]+)?[eE][+-]?[0-9]+)(?![A-Za-z0-9])
      | (?P<nonfinite>(?<![A-Za-z])(?:infinity|infinite|inf|nan)(?![A-Za-z])|∞|무한대?)
      | (?P<korean>{_KO_SEG}(?:\s?{_KO_SEG})*(?:\s?[0-9]{{1,4}}(?![0-9.,]))?)
      | (?P<num>
            [0-9]{{1,3}}(?:[{_SPACES}][0-9]{{3}})+(?:[.,][0-9]+)?(?![0-9])
          | [0-9]+(?:[.,'\u2019][0-9]+)*
        )
    )
    """,
    re.VERBOSE | re.IGNORECASE,
)
_PREFIX = re.compile(
    r"""
    (?P<word>minus\s|negative\s|마이너스\s?)?
    (?:(?P<sign1>[-\u2212])\s?)?
    (?:(?P<euro>€|eur\b|euros?\b)|(?P<other>\$|us\$|usd\b|£|gbp\b|₩|krw\b|¥))?\s?
    (?:(?P<sign2>[-\u2212])\s?)?
    $""",
    re.VERBOSE | re.IGNORECASE,
)
_SUFFIX = re.compile(
    r"""
    (?:\s?(?P<mult>k|thousands?|tsd|mio|millions?|mn|m|bn|billions?)(?![A-Za-z]))?
    \s?
    (?:
        (?P<pct>%|percent(?![A-Za-z])|per\s?cent(?![A-Za-z])|pct(?![A-Za-z])|퍼센트|프로)
      | (?P<times>times(?![A-Za-z])|x(?![A-Za-z0-9])|\u00d7|배)
      | (?P<euro>€|eur(?:os?)?(?![A-Za-z])|유로)
      | (?P<other>\$|usd(?![A-Za-z])|dollars?(?![A-Za-z])|달러|£|gbp(?![A-Za-z])
          |pounds?(?![A-Za-z])|파운드|₩|krw(?![A-Za-z])|won(?![A-Za-z])|원|¥|yen(?![A-Za-z])|엔)
    )?
    """,
    re.VERBOSE | re.IGNORECASE,
)
# A "-" right after an amount joins a range ("50-60k"); it is not the sign of what follows.
_AFTER_AMOUNT = re.compile(
    r"[0-9](?:\s?(?:k|m|bn|mio|mn|millions?|thousands?|billions?|€|eur|euros?|유로)|[만천억조백십])?\s*$",
    re.IGNORECASE,
)
_YEAR_BEFORE = re.compile(
    r"(?:\bin|\bfor|\bsince|\byear|\bduring|\buntil|\bby|\bof|\bfy)\s*$", re.IGNORECASE
)
_RANGE_JOIN = re.compile(
    r"^\s*(?:-|\u2013|\u2014|~|〜|to|till|until|through|에서|부터)\s*$", re.IGNORECASE
)
_RANGE_AND = re.compile(r"^\s*and\s*$", re.IGNORECASE)
_BETWEEN = re.compile(r"\bbetween\s*$|\bfrom\s*$", re.IGNORECASE)
# A count such as "2 kids": a bare number followed by a word that is not a joining word.
_COUNT_AFTER = re.compile(r"\s?(?!or\b|and\b|to\b|이나|또는)[A-Za-z가-힣]", re.IGNORECASE)
_HANGUL = re.compile(r"[가-힣]")


class AmountError(ValueError):
    """An amount refused in whole-string mode; the text reads well after the word 'revenue'."""


@dataclass(frozen=True)
class Figure:
    """One number found in a text, with every value it could mean (two when ambiguous)."""

    text: str
    start: int
    end: int
    kind: Kind
    values: tuple[Decimal, ...] = ()
    # The unit of the last digit written: 0.01 for "14,500.00", 100000 for "1.2M".
    precision: Decimal = Decimal(1)
    problem: Problem = ""
    has_separator: bool = False
    is_count: bool = False
    # A bare 1900..2100 with nothing saying it is a year ("tax on 2000"): an amount only when
    # nothing else is.
    yearlike: bool = False

    @property
    def value(self) -> Decimal | None:
        return self.values[0] if len(self.values) == 1 else None

    @property
    def ambiguous(self) -> bool:
        return len(self.values) > 1


@dataclass(frozen=True)
class Reading:
    """What a person's message says the amount is."""

    status: Literal["found", "none", "refused", "ambiguous"]
    figure: Figure | None = None
    amount: Decimal | None = None
    # For "ambiguous": why ("separator", "range", "several") and the figures in question.
    reason: str = ""
    options: tuple[Figure, ...] = field(default_factory=tuple)


def scan(text: str) -> list[Figure]:
    """Every figure in `text`, in order, each with its kind, values and any problem."""
    european = bool(re.search(r"[0-9]\.[0-9]{3},[0-9]{1,2}(?![0-9])", text))
    figures: list[Figure] = []
    for match in _CORE.finditer(text):
        figure = _figure(text, match, european=european)
        if figure is not None:
            figures.append(figure)
    return figures


def read_amount(text: str) -> Reading:
    """The one yearly amount a message is about, or why it cannot be read as one.

    A refusal wins (a negative amount is never quietly dropped); then a range or two different
    amounts are asked about; an amount written with a currency, suffix or Korean unit wins over
    a bare number, and a count ("2 kids") or a year ("in 2025") is not an amount.
    """
    figures = [f for f in scan(text) if f.kind in ("money", "bare")]
    for figure in figures:
        if figure.problem:
            return Reading("refused", figure=figure, reason=figure.problem)
    for first, second in itertools.pairwise(figures):
        between = text[first.end : second.start]
        if _RANGE_JOIN.match(between) or (
            _RANGE_AND.match(between) and _BETWEEN.search(text[: first.start])
        ):
            return Reading("ambiguous", reason="range", options=(first, second))
    marked = [f for f in figures if f.kind == "money"]
    plain = [f for f in figures if not f.is_count]
    candidates = marked or [f for f in plain if not f.yearlike] or plain
    if not candidates:
        return Reading("none")
    distinct: dict[tuple[Decimal, ...], Figure] = {}
    for figure in candidates:
        distinct.setdefault(figure.values, figure)
    if len(distinct) > 1:
        return Reading("ambiguous", reason="several", options=tuple(distinct.values()))
    figure = candidates[0]
    if figure.ambiguous:
        return Reading("ambiguous", figure=figure, reason="separator", options=(figure,))
    return Reading("found", figure=figure, amount=figure.value)


def parse_amount(raw: str) -> Decimal:
    """A whole string that must be exactly one amount in euros (the tool's argument)."""
    stripped = raw.strip()
    shown = repr(stripped[:20] + ("…" if len(stripped) > 20 else ""))[:48]
    if not stripped:
        raise AmountError("is empty; give the yearly revenue in euros, like 85000.")
    if re.fullmatch(r"[-\u2212+]?\s?(?:infinity|inf|nan|∞)", stripped, re.IGNORECASE):
        raise AmountError(f"{shown} {PROBLEM_TEXT['non_finite']}")
    figures = scan(stripped)
    whole = [f for f in figures if f.start == 0 and f.end == len(stripped)]
    if len(figures) != 1 or not whole or whole[0].kind not in ("money", "bare", "year"):
        raise AmountError(
            f"{shown} is not an amount in euros; use digits such as 85000 or 85,000.50 "
            "(no negative numbers, exponents or words)."
        )
    figure = whole[0]
    if figure.problem:
        raise AmountError(f"{shown} {PROBLEM_TEXT[figure.problem]}")
    if figure.ambiguous:
        low, high = sorted(figure.values)
        raise AmountError(
            f"{shown} is ambiguous ({format_plain(high)} or {format_plain(low)}?); "
            f"write {format_plain(high)} or {format_plain(low)}."
        )
    assert figure.value is not None  # one value: not ambiguous, no problem
    return figure.value


PROBLEM_TEXT: dict[str, str] = {
    "negative": "is negative; revenue must be zero or more.",
    "scientific": "uses scientific notation; write the amount in digits, like 85000.",
    "non_finite": "is not a finite amount; give a number of euros like 85000.",
    "too_large": f"is above the supported maximum of {MAX_AMOUNT:,.0f}.",
    "other_currency": "is not in euros; the tax table is in euros only.",
    "unreadable": "is not an amount in euros; use digits such as 85000 or 85,000.50.",
}


def format_plain(value: Decimal) -> str:
    """1200 -> '1200', 1.2 -> '1.20': a spelling no reader can misread."""
    if value == value.to_integral_value():
        return f"{value:.0f}"
    return f"{value.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}"


def format_euros(value: Decimal, *, drop_zero_cents: bool = False) -> str:
    """€14,500.00 (rounded half-up to the cent); €14,500 with `drop_zero_cents` (titles)."""
    cents = value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if drop_zero_cents and cents == cents.to_integral_value():
        return f"€{cents:,.0f}"
    return f"€{cents:,.2f}"


def has_hangul(text: str) -> bool:
    return bool(_HANGUL.search(text))


# --- Reading one figure --------------------------------------------------------------------------


def _figure(text: str, match: re.Match[str], *, european: bool) -> Figure | None:
    start, end = match.start(), match.end()
    prefix = _PREFIX.search(text[max(0, start - 16) : start])
    suffix = _SUFFIX.match(text, end)
    assert suffix is not None  # every part of it is optional
    negative = False
    if prefix is not None and prefix.group(0):
        before = text[: start - len(prefix.group(0))]
        sign = prefix["sign1"] or prefix["sign2"]
        if prefix["word"] or (sign and not _AFTER_AMOUNT.search(before)):
            negative = True
        if prefix["euro"] or prefix["other"] or negative:
            start -= len(prefix.group(0))
            while text[start] in _SPACES:
                start += 1
    euro = bool((prefix and prefix["euro"]) or suffix["euro"])
    other = bool((prefix and prefix["other"]) or suffix["other"])
    full_end = suffix.end() if suffix.group(0).strip() else end
    written = text[start:full_end].strip()

    def make(kind: Kind, values: tuple[Decimal, ...], precision: Decimal, **kw: object) -> Figure:
        problem = kw.pop("problem", "")
        if not problem and negative:
            problem = "negative"
        if not problem and other and kind == "money":
            problem = "other_currency"
        if not problem and any(v > MAX_AMOUNT for v in values) and kind in ("money", "bare"):
            problem = "too_large"
        return Figure(
            text=written,
            start=start,
            end=full_end,
            kind=kind,
            values=values,
            precision=precision,
            problem=problem,  # type: ignore[arg-type]
            **kw,  # type: ignore[arg-type]
        )

    if match["nonfinite"]:
        if not (euro or other or negative or _looks_like_amount_slot(text, match.start())):
            return None
        return make("money", (), Decimal(1), problem="non_finite")
    if match["sci"]:
        return make("money", (), Decimal(1), problem="scientific")
    if match["korean"]:
        return _korean_figure(text, match, suffix, make)
    return _western_figure(
        match["num"],
        suffix,
        make,
        european=european,
        euro=euro,
        other=other,
        core_start=match.start(),
        core_end=match.end(),
    )


def _looks_like_amount_slot(text: str, start: int) -> bool:
    """'tax on infinity' asks about an amount; 'an infinite loop' does not."""
    return bool(
        re.search(r"(?:\bon|\bof|\bearn|\bearned|\bmake|\bis|\bwas|=|:)\s*$", text[:start], re.I)
    )


def _western_figure(
    raw: str,
    suffix: re.Match[str],
    make: "_Maker",
    *,
    european: bool,
    euro: bool,
    other: bool,
    core_start: int,
    core_end: int,
) -> Figure:
    digits = sum(ch.isdigit() for ch in raw)
    mult_word = (suffix["mult"] or "").lower()
    multiplier = _MULTIPLIERS.get(mult_word, Decimal(1))
    if suffix["pct"]:
        kind: Kind = "percent"
    elif suffix["times"]:
        kind = "times"
    elif euro or other or mult_word:
        kind = "money"
    else:
        kind = "bare"
    if digits > MAX_DIGITS:
        return make(kind, (), Decimal(1), problem="too_large" if kind != "percent" else "")
    readings = _separators(raw, european=european or bool(suffix["euro"]), suffixed=multiplier > 1)
    if not readings:
        return make(kind, (), Decimal(1), problem="unreadable", has_separator=True)
    values = tuple(value * multiplier for value, _ in readings)
    precision = min(Decimal(1).scaleb(-decimals) for _, decimals in readings) * multiplier
    has_separator = not raw.isdigit()
    if kind == "bare":
        value = values[0]
        if not has_separator and 1900 <= value <= 2100 and value == value.to_integral_value():
            text = suffix.string
            if _YEAR_BEFORE.search(text[:core_start]) or re.match(r"\s?년", text[core_end:]):
                return make("year", values, precision)
            return make(kind, values, precision, yearlike=True)
        is_count = bool(_COUNT_AFTER.match(suffix.string, suffix.end())) and value < 100
        return make(kind, values, precision, has_separator=has_separator, is_count=is_count)
    return make(kind, values, precision, has_separator=has_separator)


def _separators(raw: str, *, european: bool, suffixed: bool) -> list[tuple[Decimal, int]]:
    """The value(s) a digit string could mean, each with its number of decimals written."""
    text = raw
    for space in _SPACES + "'\u2019":
        text = text.replace(space, "'")
    grouped = "'" in text
    dots, commas = text.count("."), text.count(",")
    if dots and commas:
        decimal_sep = "." if text.rfind(".") > text.rfind(",") else ","
        group_sep = "," if decimal_sep == "." else "."
        if text.count(decimal_sep) > 1:
            return []
        return _grouped(text.replace(group_sep, "'"), decimal_sep)
    sep = "." if dots else "," if commas else ""
    if not sep:
        return _grouped(text, "")
    count = dots + commas
    if grouped:
        return _grouped(text, sep) if count == 1 else []
    if count > 1:
        return _grouped(text.replace(sep, "'"), "")
    before, after = text.split(sep)
    if suffixed or len(after) != 3 or len(before) > 3 or before.startswith("0"):
        return _grouped(text, sep)
    as_thousands = _grouped(text.replace(sep, "'"), "")
    if sep == "," or european:
        return as_thousands
    return as_thousands + _grouped(text, sep)


def _grouped(text: str, decimal_sep: str) -> list[tuple[Decimal, int]]:
    whole, _, fraction = text.partition(decimal_sep) if decimal_sep else (text, "", "")
    groups = whole.split("'")
    if len(groups) > 1 and (not 1 <= len(groups[0]) <= 3 or any(len(g) != 3 for g in groups[1:])):
        return []
    if not all(g.isdigit() for g in groups) or (fraction and not fraction.isdigit()):
        return []
    try:
        value = Decimal("".join(groups) + ("." + fraction if fraction else ""))
    except InvalidOperation:  # pragma: no cover - only ASCII digits get here
        return []
    return [(value, len(fraction))]


def _korean_figure(
    text: str, match: re.Match[str], suffix: re.Match[str], make: "_Maker"
) -> Figure | None:
    raw = match["korean"]
    # Hangul numerals alone ("이천", "만") are words too: only an amount when a currency follows.
    if not re.match(r"[0-9]", raw) and not (suffix["euro"] or suffix["other"]):
        return None
    if not re.match(r"[0-9]", raw) and match.start() > 0 and _HANGUL.match(text[match.start() - 1]):
        return None
    parsed = _korean_value(raw)
    if suffix["pct"] or suffix["times"]:
        return None
    if parsed is None:
        return make("money", (), Decimal(1), problem="unreadable", has_separator=True)
    value, precision = parsed
    return make("money", (value,), precision, has_separator=True)


def _korean_value(raw: str) -> tuple[Decimal, Decimal] | None:
    """'1억 2천만' -> (120000000, 10000000): the value and the unit of its last digit."""
    tokens = re.findall(rf"{_KO_NUM}|[십백천만억조]", raw.replace(" ", ""))
    total = Decimal(0)
    section = Decimal(0)
    pending: Decimal | None = None
    pending_decimals = 0
    precision = Decimal(1)
    last_big = Decimal("Infinity")
    for token in tokens:
        if token in _KO_SMALL:
            unit = _KO_SMALL[token]
            section += (pending if pending is not None else Decimal(1)) * unit
            precision = unit * Decimal(1).scaleb(-pending_decimals)
            pending, pending_decimals = None, 0
        elif token in _KO_BIG:
            big = _KO_BIG[token]
            if big >= last_big:
                return None  # "5천 8만": units must fall
            if pending is not None:
                section += pending
                precision = Decimal(1).scaleb(-pending_decimals)
            if section == 0:
                section = Decimal(1)
            total += section * big
            precision *= big
            section, pending, pending_decimals, last_big = Decimal(0), None, 0, big
        else:
            if pending is not None:
                return None
            if token in _KO_DIGITS:
                pending, pending_decimals = Decimal(_KO_DIGITS[token]), 0
            else:
                readings = _separators(token, european=False, suffixed=True)
                if len(readings) != 1:
                    return None
                pending, pending_decimals = readings[0]
    if pending is not None:
        section += pending
        precision = Decimal(1).scaleb(-pending_decimals)
    return total + section, precision


class _Maker(Protocol):  # the type of `make` inside _figure, for mypy
    def __call__(
        self, kind: Kind, values: tuple[Decimal, ...], precision: Decimal, **kw: object
    ) -> Figure: ...
