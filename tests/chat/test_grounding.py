"""The grounding check: every figure of an answer traced to a calculation, the question or the table;
and the note a person sees under an answer whose figures are not verified."""

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.template.loader import render_to_string
from django.test import Client

from chat.grounding import answer_check_figures, table_figures
from chat.models import Conversation, Message
from chat.tools.registry import registry
from chat.tools.tax import TABLE

QUESTION = "What is the tax on 85,000 euros of revenue?"


def result_for(revenue: str) -> dict[str, Any]:
    outcome = registry.run("calculate_tax", json.dumps({"revenue": revenue}))
    assert outcome.result is not None
    return outcome.result


def check(answer: str, *results: Any, question: str = QUESTION) -> list[str]:
    found = answer_check_figures(
        answer=answer, tool_results=list(results) or [result_for("85000")], question=question
    )
    assert found.verified == (not found.unsupported)
    return found.unsupported


@pytest.mark.parametrize(
    "answer",
    [
        "On €85,000.00 the tax is **€14,500.00**, an effective rate of 17.06 %.",
        "The tax is 14,500 euros.",
        "The tax is 14.500 €.",
        "The tax is 14 500 €.",
        "The tax is 14\u202f500 € (17,06 %).",
        "The tax is EUR 14,500.",
        "You owe about €14.5k, roughly 17 % of your revenue.",
        "Your tax: 14500.00 (effective 17.1%).",
        "- 20 % from €30,000 to €70,000: €40,000 taxed, €8,000\n- 30 % on €15,000: €4,500",
        "The 40 % bracket starts at €150,000, where the tax is already €34,000.",
        "At most €1,000,000,000,000 can be calculated.",
        "In 2026, with 3 brackets in play, you owe €14,500.",
        "The 2026 table gives €14,500.",
        "You keep €70,500 after tax; the 30 % band runs €70k-€150k.",
        "연간 수입 8만 5천 유로에 대한 세금은 14,500유로입니다 (실효세율 17.06%).",
    ],
)
def test_correct_and_reformatted_figures_are_verified(answer: str) -> None:
    assert check(answer) == []


@pytest.mark.parametrize(
    ("answer", "unsupported"),
    [
        ("The tax is €12,000.00.", ["€12,000.00"]),
        ("The tax is 14,000 euros.", ["14,000 euros"]),
        ("The tax is €1,450.", ["€1,450"]),
        ("Your effective rate is 18 %.", ["18 %"]),
        ("Your marginal rate is 35 %.", ["35 %"]),
        ("The tax is €14,500 and you get €2,300 back.", ["€2,300"]),
        ("The tax is $14,500.", ["$14,500"]),
        ("The tax is 14,500 and the penalty 3,250.", ["3,250"]),
        ("On €1.2M you owe about €450k.", ["€1.2M", "€450k"]),
        ("The tax is €12,000, yes €12,000.", ["€12,000"]),  # listed once
    ],
)
def test_wrong_figures_are_listed_as_written(answer: str, unsupported: list[str]) -> None:
    assert check(answer) == unsupported


def test_rounding_is_accepted_only_close_to_the_value() -> None:
    big = result_for("1234567.89")
    assert check("Revenue €1.23M, tax €467.8k", big) == []
    assert check("Revenue €1.2M", big) == ["€1.2M"]  # 2.8 % off: not the same figure


def test_a_figure_written_to_the_cent_is_the_same_amount() -> None:
    # Hypothesis found "0 0.011": the offline engine asks about €0.00 and €0.01, 9 % off 0.011.
    assert check("Which one: €0.00 or €0.01?", question="0 0.011") == []
    assert check("Which one: €0.02?", question="0.011") == ["€0.02"]


def test_the_persons_own_figures_are_supported() -> None:
    question = "I earn 1.200 or maybe €2,500 more, and 10 % less next year?"
    answer = "Do you mean €1,200 or €1.20? Adding €2,500 and removing 10 % changes it."
    assert check(answer, question=question) == []


def test_the_table_figures_are_supported_without_a_calculation() -> None:
    money, percent = table_figures()
    assert set(TABLE.thresholds()) <= money
    assert {b.rate * 100 for b in TABLE.brackets} == percent
    answer = (
        "The brackets: 0 % up to €10,000; 10 % to €30,000; 20 % to €70,000; 30 % to €150,000; "
        "40 % above. The 20 % bracket adds at most €8,000; the tax at €70,000 is €10,000."
    )
    assert answer_check_figures(answer=answer, tool_results=[], question="brackets?").verified


def test_an_error_output_supports_the_figures_it_quotes() -> None:
    error = registry.run("calculate_tax", '{"revenue": "-5"}').output
    answer = "I could not calculate that: revenue '-5' is negative."
    assert check(answer, error, question="tax on -5 euros") == []


def test_the_difference_between_two_calculations_is_supported() -> None:
    answer = "At €100,000 you pay €19,000, €4,500 more than the €14,500 at €85,000."
    assert check(answer, result_for("85000"), result_for("100000")) == []
    only_one = answer_check_figures(
        answer=answer, tool_results=[result_for("100000")], question="and on 100k?"
    )
    assert only_one.unsupported == ["€4,500", "€14,500", "€85,000"]


def test_earlier_calculations_count_when_passed() -> None:
    answer = "Your earlier tax was €14,500; at €100,000 it is €19,000."
    found = answer_check_figures(
        answer=answer,
        tool_results=[result_for("100000")],
        question="and on 100k?",
        earlier_results=[result_for("85000")],
    )
    assert found.verified


def test_years_counts_and_multipliers_are_not_amounts() -> None:
    answer = "In 2026 the table has 5 brackets; 2x the revenue is not 2\u00d7 the tax. Step 1: ask."
    assert check(answer) == []


def test_an_answer_with_no_figures_is_verified() -> None:
    assert check("I can only calculate the tax on a yearly revenue in euros.") == []


# --- The note under the answer ------------------------------------------------------------------

pytestmark_db = pytest.mark.django_db


def answer_message(owner: User, **fields: Any) -> Message:
    conversation = Conversation.objects.create(owner=owner, title="Tax")
    Message.objects.create(conversation=conversation, role=Message.Role.USER, text=QUESTION)
    return Message.objects.create(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.COMPLETE,
        text="The tax is **€12,000.00**.",
        engine="offline",
        **fields,
    )


def bubble(message: Message) -> str:
    return render_to_string("chat/_message.html", {"message": message, "tool_calls": []})


@pytestmark_db
def test_the_note_shows_the_words_not_verified_and_the_figures(alice: User) -> None:
    message = answer_message(alice, figures_verified=False, unverified_figures=["€12,000.00"])
    html = bubble(message)
    assert "<strong>not verified</strong>" in html
    assert '<span class="grounding-figure">€12,000.00</span>' in html
    # Under the answer text, not above it.
    assert html.index('class="markdown"') < html.index("grounding-note")


@pytestmark_db
@pytest.mark.parametrize("verified", [True, None])
def test_no_note_when_verified_or_not_checked(alice: User, verified: bool | None) -> None:
    message = answer_message(alice, figures_verified=verified)
    assert "not verified" not in bubble(message)


@pytestmark_db
def test_the_note_escapes_what_the_model_wrote(alice: User) -> None:
    message = answer_message(
        alice, figures_verified=False, unverified_figures=["<img src=x onerror=alert(1)>€5"]
    )
    html = bubble(message)
    assert "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;€5" in html


@pytestmark_db
def test_a_long_list_is_shortened(alice: User) -> None:
    figures = [f"€{n},000" for n in range(11, 23)]
    html = bubble(answer_message(alice, figures_verified=False, unverified_figures=figures))
    assert "€18,000" in html
    assert "€19,000" not in html
    assert "and 4 more" in html


@pytestmark_db
def test_the_conversation_page_shows_the_note(alice: User) -> None:
    message = answer_message(alice, figures_verified=False, unverified_figures=["€12,000.00"])
    client = Client()
    client.force_login(alice)
    html = client.get(f"/c/{message.conversation_id}/").content.decode()
    assert "not verified" in html
    assert "€12,000.00" in html
    # The disclaimer is rendered from the table.
    assert TABLE.summary() in html
    assert TABLE.version in html


def test_receipts_give_their_result_or_their_error_output() -> None:
    from chat.grounding import receipt_results
    from chat.models import ToolCall

    ok = ToolCall(name="calculate_tax", result=result_for("85000"), output="{}")
    failed = ToolCall(name="calculate_tax", result=None, output='{"error": "revenue \'-5\'"}')
    results = receipt_results([ok, failed])
    assert results == [ok.result, failed.output]
    answer = "€14,500.00 on €85,000; -5 was refused."
    assert answer_check_figures(answer=answer, tool_results=results, question="").verified
