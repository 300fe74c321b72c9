import json
import re
from decimal import Decimal

import pytest

from chat.tools.registry import CALCULATE_TAX, registry
from chat.tools.tax import TABLE, RevenueError, calculate_tax, parse_revenue
from tests.helpers.paths import ROOT

# The repository's own copy: a test never reads a file outside the repository.
CASES = json.loads((ROOT / "tests" / "data" / "tax_cases.json").read_text())


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


# --- One source for the table -------------------------------------------------------------------


def test_the_table_matches_the_golden_brackets() -> None:
    golden = [(b["up_to"], b["rate"]) for b in CASES["brackets"]]
    ours = [(None if b.upper is None else f"{b.upper:f}", f"{b.rate:f}") for b in TABLE.brackets]
    assert ours == golden
    # Contiguous: each bracket starts where the one before it ends.
    assert [b.lower for b in TABLE.brackets[1:]] == [b.upper for b in TABLE.brackets[:-1]]


def test_the_published_wording_is_rendered_from_the_table() -> None:
    assert TABLE.summary() == (
        "0 % up to €10,000; 10 % to €30,000; 20 % to €70,000; 30 % to €150,000; 40 % above"
    )


def test_the_tool_description_for_the_model_is_rendered_from_the_table() -> None:
    assert TABLE.summary() in CALCULATE_TAX.description
    assert TABLE.version in CALCULATE_TAX.description


def test_every_receipt_carries_the_table_version() -> None:
    outcome = registry.run("calculate_tax", '{"revenue": "85000"}')
    assert outcome.result is not None
    assert outcome.result["table_version"] == TABLE.version
    assert outcome.result["note"] == TABLE.note


def test_the_readme_states_the_table_as_it_is() -> None:
    readme = (ROOT / "README.md").read_text()
    statement = next(line for line in readme.split("\n\n") if "demonstration table" in line)
    statement = re.sub(r"\s+", " ", statement.replace(">", " "))
    assert TABLE.summary() in statement
    assert TABLE.version in statement
    assert TABLE.effective_from.isoformat() in statement


def test_no_other_file_writes_the_table_out() -> None:
    """The bracket wording appears only where it is rendered from TABLE (and the README check)."""
    pattern = re.compile(r"10 ?% (?:up )?to €?30,000")
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("chat", "taxsite")
        for path in (ROOT / folder).rglob("*")
        if path.suffix in {".py", ".html", ".txt"} and pattern.search(path.read_text())
    ]
    assert offenders == []
