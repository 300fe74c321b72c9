"""The demonstration tax table of the seed article: pure functions, no Django."""

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")

# (lower bound, upper bound or None, marginal rate)
BRACKETS: tuple[tuple[Decimal, Decimal | None, Decimal], ...] = (
    (Decimal("0"), Decimal("10000"), Decimal("0.00")),
    (Decimal("10000"), Decimal("30000"), Decimal("0.10")),
    (Decimal("30000"), Decimal("70000"), Decimal("0.20")),
    (Decimal("70000"), Decimal("150000"), Decimal("0.30")),
    (Decimal("150000"), None, Decimal("0.40")),
)

# A trillion euros is far beyond any real revenue and keeps Decimal work tiny.
MAX_REVENUE = Decimal("1000000000000")
# Checked before any parsing so that a 1 MB string costs nothing.
MAX_INPUT_CHARS = 40

# ASCII digits only (Decimal would accept "٣"); thousands separated by commas or not at all;
# an optional euro sign or EUR; no exponents, underscores, signs, or words.
_AMOUNT = re.compile(
    r"""
    \s*
    (?:€\s*)?
    (?P<whole>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)
    (?:\.(?P<fraction>[0-9]+))?
    \s*
    (?:€|EUR|euros?)?
    \s*
    """,
    re.VERBOSE | re.ASCII | re.IGNORECASE,
)


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

    @property
    def effective_rate(self) -> Decimal:
        if not self.revenue:
            return Decimal("0.00")
        return (self.tax / self.revenue * 100).quantize(CENT, rounding=ROUND_HALF_UP)


def parse_revenue(raw: object) -> Decimal:
    """Turn what the model sent into a revenue, or raise RevenueError saying why not."""
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
    stripped = raw.strip()
    # Quoted back briefly: the message goes to the model and the page, never a wall of input.
    shown = repr(stripped[:20] + ("…" if len(stripped) > 20 else ""))[:48]
    if not stripped:
        raise RevenueError("revenue is empty; give the yearly revenue in euros, like 85000.")
    if stripped.startswith("-"):
        raise RevenueError(f"revenue {shown} is negative; revenue must be zero or more.")
    match = _AMOUNT.fullmatch(raw)
    if match is None:
        raise RevenueError(
            f"revenue {shown} is not an amount in euros; use digits such as 85000 or "
            "85,000.50 (no negative numbers, exponents or words)."
        )
    whole = match["whole"].replace(",", "")
    fraction = match["fraction"] or "0"
    revenue = Decimal(f"{whole}.{fraction}")
    if revenue > MAX_REVENUE:
        raise RevenueError(f"revenue {shown} is above the supported maximum of 1,000,000,000,000.")
    return revenue


def calculate_tax(revenue: Decimal) -> TaxResult:
    """Marginal tax on a yearly revenue, rounded half-up to cents."""
    if revenue.is_nan() or revenue.is_infinite() or revenue < 0:
        raise RevenueError("revenue must be a finite amount of zero or more.")
    shares: list[BracketShare] = []
    total = Decimal("0")
    for lower, upper, rate in BRACKETS:
        if revenue <= lower:
            break
        top = revenue if upper is None else min(revenue, upper)
        taxable = top - lower
        tax = taxable * rate
        total += tax
        shares.append(
            BracketShare(
                lower=lower,
                upper=upper,
                rate=rate,
                taxable=taxable.quantize(CENT, rounding=ROUND_HALF_UP),
                tax=tax.quantize(CENT, rounding=ROUND_HALF_UP),
            )
        )
    return TaxResult(
        revenue=revenue.quantize(CENT, rounding=ROUND_HALF_UP),
        tax=total.quantize(CENT, rounding=ROUND_HALF_UP),
        breakdown=tuple(shares),
    )
