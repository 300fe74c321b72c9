"""The offline engine: what it reads, how it follows up, what it says; every answer grounded."""

import json
from collections.abc import Sequence
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from hypothesis import given, settings
from hypothesis import strategies as st

from chat.engines.base import PastMessage, PastToolCall
from chat.engines.offline_compose import compose_answer
from chat.engines.offline_plan import Calculate, Reply, plan_turn
from chat.engines.offline_text import STRINGS
from chat.grounding import answer_check_figures
from chat.models import Conversation, Message, ToolCall
from chat.tools.registry import registry


class Chat:
    """A conversation with the offline engine's pure parts and the real tool registry."""

    def __init__(self) -> None:
        self.history: list[PastMessage] = []
        self.calls: list[dict[str, str]] = []

    def ask(self, text: str) -> str:
        plan = plan_turn(text=text, history=self.history)
        calls: tuple[PastToolCall, ...] = ()
        results: list[object] = []
        if isinstance(plan, Calculate):
            arguments = json.dumps({"revenue": plan.argument})
            outcome = registry.run("calculate_tax", arguments)
            calls = (PastToolCall("call", "calculate_tax", arguments, outcome.output),)
            results = [outcome.result if outcome.result is not None else outcome.output]
            self.calls.append({"revenue": plan.argument, "error": outcome.error})
            answer = compose_answer(plan, outcome.output)
        else:
            answer = plan.text
        check = answer_check_figures(answer=answer, tool_results=results, question=text)
        assert check.verified, (text, answer, check.unsupported)
        self.history += [PastMessage("user", text), PastMessage("assistant", answer, calls)]
        return answer


# --- The cases of the issue ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "read_as", "tax"),
    [
        ("I earn €1.2M, what do I owe?", "€1,200,000.00", "€454,000.00"),
        ("1.2 million euros", "€1,200,000.00", "€454,000.00"),
        ("Tax on 85.000 €?", "€85,000.00", "€14,500.00"),
        ("Tax on 85 000 €?", "€85,000.00", "€14,500.00"),
        ("What is the tax on 85,000 euros of revenue?", "€85,000.00", "€14,500.00"),
        ("In 2025 my revenue was 85000, what is the tax?", "€85,000.00", "€14,500.00"),
        ("I made 85K, tax?", "€85,000.00", "€14,500.00"),
    ],
)
def test_says_what_it_read_before_the_result(typed: str, read_as: str, tax: str) -> None:
    answer = Chat().ask(typed)
    assert answer.startswith(f"I read your yearly revenue as **{read_as}**.")
    assert f"the tax is **{tax}**" in answer


def test_korean_question_is_read_and_answered_in_korean() -> None:
    chat = Chat()
    answer = chat.ask("연 수입 8만 5천 유로면 세금이 얼마인가요?")
    assert chat.calls == [{"revenue": "85000", "error": ""}]
    assert answer.startswith("연간 수입을 **€85,000.00**(으)로 읽었습니다.")
    assert "세금은 **€14,500.00**입니다" in answer
    assert "실제 세법이 아닙니다" in answer


@pytest.mark.parametrize(
    ("typed", "shown", "tool_error"),
    [
        ("tax on -5 euros", "“-5 euros” is negative", "is negative"),
        ("tax on 1e309 euros", "“1e309 euros” is in scientific notation", "scientific"),
        ("tax on infinity euros", "is not a finite amount", "not a finite amount"),
        ("tax on 2,000,000,000,000 €", "above the largest revenue", "above the supported"),
        ("tax on $85,000", "is not in euros", "not in euros"),
    ],
)
def test_refuses_with_the_reason_and_the_card_records_it(
    typed: str, shown: str, tool_error: str
) -> None:
    chat = Chat()
    answer = chat.ask(typed)
    assert shown in answer
    assert "I did not calculate anything" in answer
    assert len(chat.calls) == 1
    assert tool_error in chat.calls[0]["error"]


@pytest.mark.parametrize(
    ("typed", "asked"),
    [
        ("tax on 1.200", "could mean **€1,200.00** or **€1.20**"),
        ("between 50k and 60k, what's the tax?", "“50k and 60k” looks like a range"),
        ("tax on 50-60k", "“50-60k” looks like a range"),
        ("tax on 50k or 60k?", "more than one amount in your message (€50,000.00 and €60,000.00)"),
    ],
)
def test_asks_instead_of_guessing(typed: str, asked: str) -> None:
    chat = Chat()
    assert asked in chat.ask(typed)
    assert chat.calls == []


# --- Follow-ups from the history ----------------------------------------------------------------


def test_follow_ups_in_english() -> None:
    chat = Chat()
    chat.ask("What is the tax on 85,000 euros?")
    assert "I read your yearly revenue as **€50,000.00**" in chat.ask("and on 50k?")
    twice = chat.ask("what if it were twice that?")
    assert twice.startswith("Twice your earlier revenue is **€100,000.00**.")
    assert "the tax is **€19,000.00**" in twice
    more = chat.ask("10 % more?")
    assert more.startswith("Your earlier revenue plus 10 % is **€110,000.00**.")
    less = chat.ask("5k less?")
    assert less.startswith("Your earlier revenue minus €5,000.00 is **€105,000.00**.")
    marginal = chat.ask("what is my marginal rate?")
    assert "Using your earlier revenue, **€105,000.00**." in marginal
    assert "Your marginal rate is **30 %**" in marginal
    assert "until your revenue reaches €150,000.00" in marginal
    bracket = chat.ask("explain the 20 % bracket")
    assert "The **20 %** bracket covers revenue from €30,000.00 to €70,000.00" in bracket
    assert "€40,000.00 of €105,000.00 falls in it: €8,000.00 of tax" in bracket
    effective = chat.ask("and my effective rate?")
    assert "Your effective rate is **19.52 %**" in effective
    assert [c["revenue"] for c in chat.calls] == [
        "85000",
        "50000",
        "100000",
        "110000",
        "105000",
        "105000",
        "105000",
        "105000",
    ]


def test_follow_ups_in_korean() -> None:
    chat = Chat()
    chat.ask("연 수입 8만 5천 유로면 세금이 얼마인가요?")
    assert "**€50,000.00**" in chat.ask("5만 유로는요?")
    assert chat.ask("두 배라면?").startswith("이전 수입의 두 배 금액은 **€100,000.00**입니다.")
    assert chat.ask("10% 더 벌면?").startswith("이전 수입에서 10 % 늘리면 **€110,000.00**입니다.")
    assert "한계세율은 **30 %**입니다" in chat.ask("한계세율은?")
    assert "**20 %** 구간은 €30,000.00부터 €70,000.00까지" in chat.ask("20% 구간 설명해 주세요")


def test_a_follow_up_without_an_earlier_calculation_says_so() -> None:
    for text in ("what if it were twice that?", "10 % more?", "what is my marginal rate?"):
        answer = Chat().ask(text)
        assert "no earlier calculation" in answer
        assert "€" not in answer


def test_the_earlier_revenue_is_the_newest_successful_calculation() -> None:
    chat = Chat()
    chat.ask("tax on 85k")
    chat.ask("tax on -5 euros")  # refused: not a revenue to build on
    assert "**€170,000.00**" in chat.ask("double that?")


def test_a_change_below_zero_is_refused() -> None:
    chat = Chat()
    chat.ask("tax on 85k")
    assert "below zero" in chat.ask("200 % less?")
    assert chat.calls == [{"revenue": "85000", "error": ""}]


def test_a_bracket_that_does_not_exist_is_named() -> None:
    answer = Chat().ask("explain the 25 % bracket")
    assert answer == "The table has no 25 % bracket; its rates are 0 %, 10 %, 20 %, 30 %, 40 %."


def test_a_bracket_explained_from_the_table_alone() -> None:
    answer = Chat().ask("explain the 40 % bracket")
    assert "covers revenue above €150,000.00" in answer
    assert "€34,000.00" in answer


@pytest.mark.parametrize(
    "text", ["hello", "What can you do?", "tax rules please", "I have 3 kids", "안녕하세요"]
)
def test_anything_else_gets_an_honest_reply_without_a_figure(text: str) -> None:
    chat = Chat()
    answer = chat.ask(text)
    assert "offline engine" in answer or "오프라인 엔진" in answer
    assert chat.calls == []


def test_the_table_on_request() -> None:
    answer = Chat().ask("what are the tax brackets?")
    assert "- 30 % from €70,000.00 to €150,000.00" in answer
    assert "demo-2026.1" in answer


def test_no_sentence_carries_a_figure_of_its_own() -> None:
    """Any digit in the strings must be one the grounding check traces to the table."""
    for lang, strings in STRINGS.items():
        for key, text in strings.items():
            check = answer_check_figures(answer=text, tool_results=[], question="")
            assert check.verified, (lang, key, check.unsupported)


# --- Every offline answer passes the grounding check --------------------------------------------

_WORDS = st.sampled_from(
    [
        "tax", "on", "and", "what", "if", "twice", "that", "more", "less", "marginal", "rate",
        "bracket", "explain", "%", "€", "EUR", "euros", "k", "M", "million", "-", ",", ".", " ",
        "'", "\u202f", "만", "천", "억", "유로", "세금", "두 배", "더", "1e5", "inf", "$",
        "between", "or", "2025", "연", "수입",
    ]
)  # fmt: skip
_PIECES = st.one_of(_WORDS, st.integers(0, 10**13).map(str), st.text("0123456789.,", max_size=8))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(_PIECES, max_size=10).map(" ".join), min_size=1, max_size=3))
def test_every_offline_answer_is_grounded(conversation: Sequence[str]) -> None:
    chat = Chat()
    for text in conversation:
        chat.ask(text)  # asserts the grounding check passes


# --- Through the real turn and `manage.py ask` --------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_ask_follow_up_conversation(alice: User, capsys: pytest.CaptureFixture[str]) -> None:
    call_command("ask", "I earn €1.2M, what do I owe?", user="alice", stdout=StringIO())
    conversation = Conversation.objects.get(owner=alice)
    first = capsys.readouterr().out
    assert "I read your yearly revenue as **€1,200,000.00**" in first
    assert "€454,000.00" in first
    for question, expected in [
        ("and on 50k?", "**€50,000.00**"),
        ("what if it were twice that?", "Twice your earlier revenue is **€100,000.00**"),
        ("10 % more?", "plus 10 % is **€110,000.00**"),
        ("what is my marginal rate?", "Your marginal rate is **30 %**"),
        ("explain the 20 % bracket", "The **20 %** bracket covers revenue"),
        ("한계세율은?", "한계세율은 **30 %**입니다"),
    ]:
        call_command("ask", question, user="alice", conversation=conversation.pk, stdout=StringIO())
        assert expected in capsys.readouterr().out, question
    answers = list(conversation.messages.filter(role=Message.Role.ASSISTANT))
    assert [a.status for a in answers] == ["complete"] * 7
    revenues = [
        json.loads(c.raw_arguments)["revenue"]
        for c in ToolCall.objects.filter(message__conversation=conversation).order_by("pk")
    ]
    assert revenues == ["1200000", "50000", "100000", "110000", "110000", "110000", "110000"]
    stored = ToolCall.objects.filter(message__conversation=conversation).first()
    assert stored is not None
    assert stored.result is not None
    assert stored.result["table_version"] == "demo-2026.1"


@pytest.mark.django_db(transaction=True)
def test_ask_refusal_is_stored_as_a_rejected_receipt(
    alice: User, capsys: pytest.CaptureFixture[str]
) -> None:
    call_command("ask", "tax on -5 euros", user="alice", stdout=StringIO())
    assert "is negative, and revenue must be zero or more" in capsys.readouterr().out
    receipt = ToolCall.objects.get(message__conversation__owner=alice)
    assert "negative" in receipt.error
    assert receipt.result is None


def test_amount_read_is_the_amount_sent() -> None:
    plan = plan_turn(text="Tax on 85 000,50 €?", history=[])
    assert isinstance(plan, Calculate)
    assert Decimal(plan.argument) == Decimal("85000.50")
    assert isinstance(plan_turn(text="hello", history=[]), Reply)


@pytest.mark.parametrize("text", ["1" * 4000, "1 " * 2000, "1k " * 1300, "20 % " * 800])
def test_a_hostile_message_is_planned_in_bounded_time(text: str) -> None:
    import time

    started = time.perf_counter()
    plan_turn(text=text[:4000], history=[])
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("question", ["tax 85000", "tax 0.005", "max 90000 eur"])
def test_an_x_ending_a_word_is_not_a_multiplication(question: str) -> None:
    answer = Chat().ask(question)
    assert answer.startswith("I read your yearly revenue as")
    assert "times" not in answer
