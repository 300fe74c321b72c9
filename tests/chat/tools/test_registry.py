import json

import pytest

from chat.tools.registry import CALCULATE_TAX, ToolRegistry, registry


def test_calculate_tax_returns_the_figures_and_breakdown() -> None:
    outcome = registry.run("calculate_tax", '{"revenue": "85000"}')
    assert outcome.succeeded
    data = json.loads(outcome.output)
    assert data["tax"] == "14500.00"
    assert data["revenue"] == "85000.00"
    assert [row["tax"] for row in data["breakdown"]] == ["0.00", "2000.00", "8000.00", "4500.00"]
    assert outcome.result == data
    assert outcome.parsed_input == {"revenue": "85000"}


@pytest.mark.parametrize(
    ("raw_arguments", "expected"),
    [
        ('{"revenue": "abc"}', "not an amount"),
        ('{"revenue": "-5"}', "negative"),
        ('{"revenue": "1e309"}', "scientific notation"),
        ('{"revenue": NaN}', "not a finite amount"),
        ('{"revenue": Infinity}', "not a finite amount"),
        ('{"revenue": true}', "not True"),
        ('{"revenue": "1_000"}', "not an amount"),
        ('{"revenue": "٣"}', "not an amount"),
        ('{"revenue": "85000"', "not valid JSON"),
        ("not json at all", "not valid JSON"),
        ('["85000"]', "JSON object"),
        ("{}", "Missing required argument 'revenue'"),
        ('{"revenue": "85000", "rate": "0.01"}', "Unexpected argument(s): rate"),
        ('{"revenue": "' + "9" * 5000 + '"}', "too long"),
        ('{"revenue": "' + "x" * 1_000_000 + '"}', "too long"),
        ("[" * 100_000, "too long"),
    ],
)
def test_bad_arguments_become_an_error_output_not_a_crash(
    raw_arguments: str, expected: str
) -> None:
    outcome = registry.run("calculate_tax", raw_arguments)
    assert not outcome.succeeded
    assert expected in outcome.error
    # The model always gets an answer it can read.
    assert json.loads(outcome.output) == {"error": outcome.error}


def test_unknown_tool_is_answered_with_an_error_naming_the_real_tools() -> None:
    outcome = registry.run("search", '{"query": "rates"}')
    assert not outcome.succeeded
    assert "Unknown tool 'search'" in outcome.error
    assert "calculate_tax" in outcome.error


def test_a_tool_that_raises_is_reported_not_propagated() -> None:
    def broken(arguments: dict[str, object]) -> dict[str, object]:
        raise RuntimeError("bug")

    tools = ToolRegistry()
    tools.register(CALCULATE_TAX.__class__("broken", "", {}, broken))
    outcome = tools.run("broken", "{}")
    assert outcome.error == "The tool failed unexpectedly."


def test_registry_can_be_cleared_for_tests() -> None:
    tools = ToolRegistry()
    tools.register(CALCULATE_TAX)
    tools.clear()
    assert tools.schemas() == []
    assert "none" in tools.run("calculate_tax", "{}").error
