import json
from decimal import Decimal
from pathlib import Path

import pytest

from chat.tools.tax import RevenueError, calculate_tax, parse_revenue

CASES = json.loads(
    (Path(__file__).resolve().parents[2] / "shared" / "tax_cases.json").read_text()
    if (Path(__file__).resolve().parents[2] / "shared" / "tax_cases.json").exists()
    else (Path(__file__).parent / "data" / "tax_cases.json").read_text()
)


@pytest.mark.parametrize("case", CASES["valid"], ids=lambda c: c["revenue"])
def test_golden_case_matches_to_the_cent(case: dict[str, str]) -> None:
    assert str(calculate_tax(parse_revenue(case["revenue"])).tax) == case["tax"]


@pytest.mark.parametrize("case", CASES["lenient_spellings_optional"], ids=lambda c: c["revenue"])
def test_lenient_spelling_is_understood(case: dict[str, str]) -> None:
    assert str(calculate_tax(parse_revenue(case["revenue"])).tax) == case["tax"]


@pytest.mark.parametrize(
    "raw", CASES["must_be_rejected_with_a_clear_error"], ids=lambda raw: repr(raw[:12])
)
def test_bad_revenue_is_rejected_with_a_clear_error(raw: str) -> None:
    with pytest.raises(RevenueError) as excinfo:
        parse_revenue(raw)
    message = str(excinfo.value)
    assert message.startswith("revenue")
    assert len(message) < 200  # the error never echoes a huge input back


@pytest.mark.parametrize("raw", [True, False, None, float("nan"), float("inf"), [], {}])
def test_non_string_json_values_are_rejected(raw: object) -> None:
    with pytest.raises(RevenueError):
        parse_revenue(raw)


def test_json_numbers_are_accepted_like_strings() -> None:
    assert parse_revenue(85000) == Decimal("85000")
    assert parse_revenue(85000.5) == Decimal("85000.5")


def test_breakdown_adds_up_to_the_tax() -> None:
    result = calculate_tax(Decimal("85000"))
    assert [share.rate for share in result.breakdown] == [
        Decimal("0.00"),
        Decimal("0.10"),
        Decimal("0.20"),
        Decimal("0.30"),
    ]
    assert sum(share.tax for share in result.breakdown) == result.tax == Decimal("14500.00")
    assert result.effective_rate == Decimal("17.06")


def test_tax_is_continuous_at_every_threshold() -> None:
    for threshold in ("10000", "30000", "70000", "150000"):
        below = calculate_tax(Decimal(threshold) - Decimal("0.01")).tax
        at = calculate_tax(Decimal(threshold)).tax
        assert at - below <= Decimal("0.01")


def test_megabyte_string_is_refused_without_parsing() -> None:
    with pytest.raises(RevenueError, match="too long"):
        parse_revenue("9" * 1_000_000)
