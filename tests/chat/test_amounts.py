"""The one amount reader: what a person types, read as the amount they meant, or asked about."""

import re
import time
from decimal import Decimal

import pytest

from chat.amounts import MAX_AMOUNT, AmountError, parse_amount, read_amount, scan

# (typed, the amount it must be read as)
VALID = [
    ("What is the tax on 85000 euros?", "85000"),
    ("tax on 85,000", "85000"),
    ("Tax on 85.000 €?", "85000"),
    ("Tax on 85 000 €?", "85000"),
    ("Tax on 85\u00a0000 €?", "85000"),  # no-break space
    ("Tax on 85\u202f000 €?", "85000"),  # narrow no-break space
    ("Tax on 85\u2009000 €?", "85000"),  # thin space
    ("tax on 85'000 CHF-style", "85000"),
    ("tax on 85\u2019000 euros", "85000"),
    ("1,234,567.89 EUR of revenue", "1234567.89"),
    ("1.234.567,89 € revenue", "1234567.89"),
    ("85.000,50 € revenue", "85000.50"),
    ("85 000,50 € revenue", "85000.50"),
    ("revenue 85000.5", "85000.5"),
    ("revenue 30000.5", "30000.5"),
    ("revenue 9999.99", "9999.99"),
    ("revenue 0.500 euros", "0.500"),
    ("revenue 1000.500", "1000.500"),
    ("I earn €1.2M, what do I owe?", "1200000"),
    ("1.2 million euros", "1200000"),
    ("1.2 millions of euros", "1200000"),
    ("I make 2,5 Mio € a year", "2500000"),
    ("I make 3 mio euros", "3000000"),
    ("I made €85k last year, what tax do I owe?", "85000"),
    ("I made 85K, tax?", "85000"),
    ("85.5k revenue", "85500"),
    ("85 thousand euros", "85000"),
    ("2m revenue", "2000000"),
    ("1.5mn euros", "1500000"),
    ("1 bn euros", "1000000000"),
    ("0.3 billion euros", "300000000"),
    ("85k€ revenue", "85000"),
    ("€ 85,000", "85000"),
    ("EUR 85,000", "85000"),
    ("85000 EUR", "85000"),
    ("85000 eur", "85000"),
    ("85,000 euro", "85000"),
    ("In 2025 my revenue was 85000, what is the tax?", "85000"),
    ("for 2026, my income is 40,000", "40000"),
    ("I have 2 kids and earn €85,000", "85000"),
    ("I have 2 kids and earn 85000", "85000"),
    ("revenue: 85000", "85000"),
    ("tax on 2000", "2000"),  # a year only when something says so
    ("2025 revenue: 85000", "85000"),
    ("2025년 수입 8만 유로", "80000"),
    ("85000", "85000"),
    ("tax on 0 euros", "0"),
    ("tax on €1,000,000,000,000", "1000000000000"),
    ("1,200 euros", "1200"),
    ("1.200 euros", "1200"),  # the euro after the number: the continental convention
    ("85,000 and again 85000 EUR", "85000"),  # the same amount twice is one amount
    # Korean
    ("연 수입 8만 5천 유로면 세금이 얼마인가요?", "85000"),
    ("8만5천유로", "85000"),
    ("85,000유로의 세금은?", "85000"),
    ("1억 2천만 유로", "120000000"),
    ("1.5억 유로 벌어요", "150000000"),
    ("팔만 오천 유로", "85000"),
    ("이천 유로 세금", "2000"),
    ("천만 유로", "10000000"),
    ("3만 유로는요?", "30000"),
    ("연봉 5천만 유로", "50000000"),
    ("8만 5000 유로", "85000"),
    ("수입이 50k면요?", "50000"),
    ("삼십만 유로", "300000"),
]

# (typed, the reason it must be refused)
REFUSED = [
    ("tax on -5 euros", "negative"),
    ("tax on -5", "negative"),
    ("tax on \u22125 €", "negative"),  # a Unicode minus
    ("tax on €-5", "negative"),
    ("tax on -€5", "negative"),
    ("minus 5 euros of tax", "negative"),
    ("negative 5000 revenue", "negative"),
    ("tax on -0.01", "negative"),
    ("tax on 1e309 euros", "scientific"),
    ("tax on 1E5", "scientific"),
    ("tax on 1.5e6 euros", "scientific"),
    ("tax on infinity euros", "non_finite"),
    ("tax on inf", "non_finite"),
    ("revenue is NaN", "non_finite"),
    ("tax on ∞ €", "non_finite"),
    ("tax on " + "9" * 5000, "too_large"),
    ("tax on 2,000,000,000,000 euros", "too_large"),
    ("tax on 5000 bn", "too_large"),
    ("tax on 2000 billion euros", "too_large"),
    ("tax on $85,000", "other_currency"),
    ("tax on 85000 dollars", "other_currency"),
    ("tax on £85,000", "other_currency"),
    ("세금 5천만원", "other_currency"),
    ("85,000원의 세금", "other_currency"),
    ("tax on 1.2.3", "unreadable"),
    ("tax on 1,2,3", "unreadable"),
    ("마이너스 5천 유로", "negative"),
]

# (typed, why it is ambiguous)
AMBIGUOUS = [
    ("tax on 1.200", "separator"),
    ("tax on €1.200", "separator"),
    ("85.000", "separator"),
    ("between 50k and 60k", "range"),
    ("from 50,000 to 60,000 euros", "range"),
    ("50-60k", "range"),
    ("50k\u201360k", "range"),
    ("5만~6만 유로", "range"),
    ("50k or 60k?", "several"),
    ("I earn 50,000 and my wife 60,000", "several"),
    ("85000 or 90000", "several"),
]

NOTHING = [
    "hello",
    "What can you do?",
    "what if it were twice that?",
    "10 % more?",
    "explain the 20 % bracket",
    "an infinite loop in my head",
    "만약 세금이 오르면?",
    "천천히 설명해 주세요",
    "in 2025",
    "demo-2026.1",
]


@pytest.mark.parametrize(("text", "amount"), VALID, ids=[t for t, _ in VALID])
def test_reads_the_amount_meant(text: str, amount: str) -> None:
    reading = read_amount(text)
    assert reading.status == "found", reading
    assert reading.amount == Decimal(amount)


@pytest.mark.parametrize(("text", "reason"), REFUSED, ids=[t[:40] for t, _ in REFUSED])
def test_refuses_clearly_never_changes_the_figure(text: str, reason: str) -> None:
    reading = read_amount(text)
    assert reading.status == "refused", reading
    assert reading.reason == reason
    assert reading.figure is not None
    assert reading.figure.text in text


@pytest.mark.parametrize(("text", "reason"), AMBIGUOUS, ids=[t for t, _ in AMBIGUOUS])
def test_asks_rather_than_guesses(text: str, reason: str) -> None:
    reading = read_amount(text)
    assert reading.status == "ambiguous", reading
    assert reading.reason == reason


@pytest.mark.parametrize("text", NOTHING)
def test_no_amount_where_there_is_none(text: str) -> None:
    assert read_amount(text).status == "none"


def test_separator_ambiguity_offers_both_readings() -> None:
    reading = read_amount("tax on 1.200")
    assert reading.figure is not None
    assert sorted(reading.figure.values) == [Decimal("1.2"), Decimal("1200")]


def test_the_sign_of_a_range_is_not_a_minus() -> None:
    figures = scan("50-60k")
    assert [f.problem for f in figures] == ["", ""]
    assert figures[1].values == (Decimal(60000),)


def test_percentages_and_multipliers_are_not_amounts() -> None:
    kinds = [f.kind for f in scan("10 % more, 2x, 두 배, 3배, 20 percent")]
    assert kinds == ["percent", "times", "times", "percent"]


def test_precision_is_the_unit_of_the_last_digit_written() -> None:
    by_text = {f.text: f.precision for f in scan("€14,500.00 and €1.2M and 8만 5천 유로")}
    assert by_text == {
        "€14,500.00": Decimal("0.01"),
        "€1.2M": Decimal("100000"),
        "8만 5천 유로": Decimal("1000"),
    }


# --- Whole-string mode (the tool's argument) ----------------------------------------------------

TOOL_VALID = [
    ("85000", "85000"),
    ("85,000", "85000"),
    ("€85,000", "85000"),
    ("85000 EUR", "85000"),
    (" 85000 ", "85000"),
    ("85000.00", "85000.00"),
    ("85k", "85000"),
    ("1.2M", "1200000"),
    ("8만 5천", "85000"),
    ("85 000", "85000"),
    ("85.000,50", "85000.50"),
    ("1000000000000", "1000000000000"),
]
TOOL_REFUSED = [
    ("", "is empty"),
    ("abc", "is not an amount"),
    ("12abc", "is not an amount"),
    ("1_000", "is not an amount"),
    ("٣", "is not an amount"),
    ("true", "is not an amount"),
    ("-5", "is negative"),
    ("NaN", "not a finite amount"),
    ("-inf", "not a finite amount"),
    ("Infinity", "not a finite amount"),
    ("1e309", "scientific notation"),
    ("1000000000000.01", "above the supported maximum"),
    ("1.200", "is ambiguous (1200 or 1.20?)"),
    ("50k or 60k", "is not an amount"),
    ("$500", "is not in euros"),
]


@pytest.mark.parametrize(("raw", "amount"), TOOL_VALID)
def test_whole_string_amounts(raw: str, amount: str) -> None:
    assert parse_amount(raw) == Decimal(amount)


@pytest.mark.parametrize(("raw", "message"), TOOL_REFUSED)
def test_whole_string_refusals_say_why(raw: str, message: str) -> None:
    with pytest.raises(AmountError, match=re.escape(message)):
        parse_amount(raw)


def test_counts_at_least_eighty_inputs() -> None:
    total = len(VALID) + len(REFUSED) + len(AMBIGUOUS) + len(NOTHING)
    total += len(TOOL_VALID) + len(TOOL_REFUSED)
    assert total >= 80


def test_the_maximum_is_the_published_one() -> None:
    assert read_amount("tax on €1,000,000,000,000").amount == MAX_AMOUNT


def test_a_long_message_is_read_in_bounded_time() -> None:
    text = ("I earn 85 000 € and 1.200 and 8만 5천 유로 " * 100)[:4000]
    started = time.perf_counter()
    scan(text)
    read_amount("9" * 4000)
    assert time.perf_counter() - started < 2.0
