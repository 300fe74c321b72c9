"""The demonstration tax table of the seed article, and the maths on it: pure, no Django.

`TABLE` is the one place the table is written. The tool's description for the model, the page's
disclaimer, the calculation card (its version), the grounding check and the README's statement
(checked by a test) are all rendered from or checked against it.
"""

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from chat import amounts

CENT = Decimal("0.01")


def gettext_noop(message: str) -> str:
    """Marks text stored in English for the translation catalogue (the name makemessages looks
    for), without importing Django here; the card translates it when shown."""
    return message


@dataclass(frozen=True)
class Bracket:
    lower: Decimal
    upper: Decimal | None  # None: no upper bound
    rate: Decimal  # a fraction: 0.20 is 20 %

    @property
    def rate_percent(self) -> str:
        return f"{self.rate * 100:.0f}"

    @property
    def max_tax(self) -> Decimal | None:
        """The most tax this bracket can add (None for the open top bracket)."""
        return None if self.upper is None else (self.upper - self.lower) * self.rate


@dataclass(frozen=True)
class TaxTable:
    version: str
    effective_from: date
    currency: str
    brackets: tuple[Bracket, ...]
    note: str

    def summary(self) -> str:
        """The one wording we publish, from the lowest bracket ('0 % up to €10,000; …') up."""
        parts = []
        for index, bracket in enumerate(self.brackets):
            if bracket.upper is None:
                parts.append(f"{bracket.rate_percent} % above")
            else:
                lead = "up to " if index == 0 else "to "
                parts.append(f"{bracket.rate_percent} % {lead}€{bracket.upper:,.0f}")
        return "; ".join(parts)

    def thresholds(self) -> tuple[Decimal, ...]:
        return tuple(b.lower for b in self.brackets) + tuple(
            b.upper for b in self.brackets if b.upper is not None
        )

    def tax_at_thresholds(self) -> tuple[Decimal, ...]:
        """Cumulative tax at each bracket's lower bound: the constants of the formula."""
        return tuple(calculate_tax(b.lower, table=self).tax for b in self.brackets)

    def bracket_for_rate(self, percent: Decimal) -> Bracket | None:
        for bracket in self.brackets:
            if bracket.rate * 100 == percent:
                return bracket
        return None

    def bracket_for_revenue(self, revenue: Decimal) -> Bracket:
        """The bracket the last euro of `revenue` falls in (a threshold belongs to the lower)."""
        for bracket in self.brackets:
            if bracket.upper is None or revenue <= bracket.upper:
                return bracket
        return self.brackets[-1]


TABLE = TaxTable(
    # A name of our own: the seed article published the table without one.
    version="demo-2026.1",
    effective_from=date(2026, 1, 1),
    currency="EUR",
    brackets=(
        Bracket(Decimal("0"), Decimal("10000"), Decimal("0.00")),
        Bracket(Decimal("10000"), Decimal("30000"), Decimal("0.10")),
        Bracket(Decimal("30000"), Decimal("70000"), Decimal("0.20")),
        Bracket(Decimal("70000"), Decimal("150000"), Decimal("0.30")),
        Bracket(Decimal("150000"), None, Decimal("0.40")),
    ),
    # Stored on every receipt in English; the card shows it in the reader's language.
    note=gettext_noop("Demonstration tax table, not real tax law."),
)

# Kept for callers that want plain tuples: (lower, upper or None, rate).
BRACKETS: tuple[tuple[Decimal, Decimal | None, Decimal], ...] = tuple(
    (b.lower, b.upper, b.rate) for b in TABLE.brackets
)

MAX_REVENUE = amounts.MAX_AMOUNT
# Checked before any parsing so that a 1 MB string costs nothing.
MAX_INPUT_CHARS = 40


class RevenueError(ValueError):
    """A revenue the tool refuses, with a message meant for the model and the person."""


@dataclass(frozen=True)
class BracketShare:
    lower: Decimal
    upper: Decimal | None
    rate: Decimal
    taxable: Decimal
    tax: Decimal


@dataclass(frozen=True)
class TaxResult:
    revenue: Decimal
    tax: Decimal
    breakdown: tuple[BracketShare, ...]
    table_version: str = TABLE.version

    @property
    def effective_rate(self) -> Decimal:
        if not self.revenue:
            return Decimal("0.00")
        return (self.tax / self.revenue * 100).quantize(CENT, rounding=ROUND_HALF_UP)


def parse_revenue(raw: object) -> Decimal:
    """Turn what the model sent into a revenue, or raise RevenueError saying why not.

    Strings go through the one amount reader (chat.amounts) in whole-string mode, so the tool
    accepts exactly the spellings the offline engine understands and refuses the same things.
    """
    if isinstance(raw, bool) or raw is None:
        raise RevenueError(f"revenue must be an amount in euros such as 85000, not {raw!r}.")
    if isinstance(raw, int | float):
        raw = str(raw)
    if not isinstance(raw, str):
        raise RevenueError("revenue must be an amount in euros given as a string, like 85000.")
    if len(raw) > MAX_INPUT_CHARS:
        raise RevenueError(
            f"revenue is too long ({len(raw)} characters); give a plain amount like 85000."
        )
    try:
        return amounts.parse_amount(raw)
    except amounts.AmountError as exc:
        raise RevenueError(f"revenue {exc}") from None


def calculate_tax(revenue: Decimal, *, table: TaxTable = TABLE) -> TaxResult:
    """Marginal tax on a yearly revenue, rounded half-up to cents."""
    if revenue.is_nan() or revenue.is_infinite() or revenue < 0:
        raise RevenueError("revenue must be a finite amount of zero or more.")
    shares: list[BracketShare] = []
    total = Decimal("0")
    for bracket in table.brackets:
        if revenue <= bracket.lower:
            break
        top = revenue if bracket.upper is None else min(revenue, bracket.upper)
        taxable = top - bracket.lower
        tax = taxable * bracket.rate
        total += tax
        shares.append(
            BracketShare(
                lower=bracket.lower,
                upper=bracket.upper,
                rate=bracket.rate,
                taxable=taxable.quantize(CENT, rounding=ROUND_HALF_UP),
                tax=tax.quantize(CENT, rounding=ROUND_HALF_UP),
            )
        )
    return TaxResult(
        revenue=revenue.quantize(CENT, rounding=ROUND_HALF_UP),
        tax=total.quantize(CENT, rounding=ROUND_HALF_UP),
        breakdown=tuple(shares),
        table_version=table.version,
    )
