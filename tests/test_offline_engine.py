import pytest

from chat.engines.offline import compose_answer, find_revenue
from chat.tools.registry import registry


@pytest.mark.parametrize(
    ("text", "revenue"),
    [
        ("What is the tax on 85,000 euros of revenue?", "85000"),
        ("I made €85k last year, what tax do I owe?", "85000"),
        ("Revenue: 85000 EUR", "85000"),
        ("In 2025 my revenue was 85000, what is the tax?", "85000"),
        ("tax on 30000.5", "30000.5"),
    ],
)
def test_finds_the_revenue_in_a_question(text: str, revenue: str) -> None:
    assert find_revenue(text) == revenue


@pytest.mark.parametrize("text", ["hello", "What can you do?", "tax rules please"])
def test_no_revenue_in_small_talk(text: str) -> None:
    assert find_revenue(text) is None


def test_answer_states_the_figure_from_the_tool_output() -> None:
    answer = compose_answer(registry.run("calculate_tax", '{"revenue": "85000"}').output)
    assert "**€14,500.00**" in answer
    assert "demonstration" in answer


def test_answer_explains_a_tool_error() -> None:
    answer = compose_answer(registry.run("calculate_tax", '{"revenue": "-1"}').output)
    assert answer.startswith("I could not calculate that: revenue '-1' is negative")
