"""The offline engine's answer for a plan and the calculate_tax output it got back.

Pure. Every figure it writes comes from the tool's output, the person's message (through the
plan) or the tax table, so the grounding check always verifies an offline answer.
"""

import json
from decimal import Decimal
from typing import Any

from chat import amounts
from chat.engines.offline_plan import Calculate, bracket_text
from chat.engines.offline_text import Lang, say
from chat.tools.tax import TABLE

euros = amounts.format_euros


def compose_answer(plan: Calculate, output: str) -> str:
    """The Markdown answer for `plan`, whose tool call returned `output` (a result or an error)."""
    lang = plan.lang
    data: dict[str, Any] = json.loads(output)
    if "error" in data or "revenue" not in data:
        if plan.problem:
            return _refusal(lang, plan)
        return say(lang, "tool_error", error=data.get("error", ""))
    revenue = Decimal(data["revenue"])
    lines = [_intro(plan, revenue)]
    if plan.focus == "marginal":
        lines += ["", _marginal(lang, revenue)]
    elif plan.focus == "effective":
        lines += [
            "",
            say(
                lang,
                "effective",
                rate=data["effective_rate_percent"],
                tax=euros(Decimal(data["tax"])),
                revenue=euros(revenue),
            ),
        ]
    elif plan.focus == "bracket" and plan.bracket_rate is not None:
        lines += ["", _bracket(lang, plan.bracket_rate, revenue, data)]
    lines += [
        "",
        say(lang, "result", tax=euros(Decimal(data["tax"])), rate=data["effective_rate_percent"]),
    ]
    if plan.focus == "tax":
        lines += ["", say(lang, "breakdown"), ""]
        lines += [_share_line(lang, share) for share in data["breakdown"]]
    lines += ["", say(lang, "footer")]
    return "\n".join(lines)


def _intro(plan: Calculate, revenue: Decimal) -> str:
    lang, amount = plan.lang, euros(revenue)
    if plan.basis == "times" and plan.factor is not None:
        factor = _factor_words(lang, plan.factor)
        if plan.base is not None:
            return say(lang, "times_of", factor=factor, base=euros(plan.base), amount=amount)
        return say(lang, "times", factor=factor, amount=amount)
    if plan.basis == "percent" and plan.percent is not None:
        key = "percent_more" if plan.more else "percent_less"
        percent = format(plan.percent.normalize(), "f")
        if plan.base is not None:
            return say(lang, f"{key}_of", base=euros(plan.base), percent=percent, amount=amount)
        return say(lang, key, percent=percent, amount=amount)
    if plan.basis == "delta" and plan.delta is not None:
        key = "delta_more" if plan.more else "delta_less"
        return say(lang, key, delta=euros(plan.delta), amount=amount)
    if plan.basis == "previous":
        return say(lang, "previous", amount=amount)
    return say(lang, "read_as", amount=amount)


def _factor_words(lang: Lang, factor: Decimal) -> str:
    if factor == 2:
        return say(lang, "twice")
    if factor == Decimal("0.5"):
        return say(lang, "half")
    return say(lang, "n_times", n=format(factor.normalize(), "f"))


def _marginal(lang: Lang, revenue: Decimal) -> str:
    # The rate of the next euro: at a threshold it is the bracket above.
    bracket = next(b for b in TABLE.brackets if b.upper is None or revenue < b.upper)
    if bracket.upper is None:
        return say(lang, "marginal_top", rate=bracket.rate_percent)
    return say(lang, "marginal", rate=bracket.rate_percent, upper=euros(bracket.upper))


def _bracket(lang: Lang, rate: Decimal, revenue: Decimal, data: dict[str, Any]) -> str:
    bracket = TABLE.bracket_for_rate(rate)
    text = bracket_text(lang, bracket)
    share = next((s for s in data["breakdown"] if Decimal(s["rate_percent"]) == rate), None)
    if share is None:
        return f"{text} {say(lang, 'bracket_not_reached', revenue=euros(revenue))}"
    yours = say(
        lang,
        "bracket_yours",
        taxable=euros(Decimal(share["taxable"])),
        revenue=euros(revenue),
        tax=euros(Decimal(share["tax"])),
    )
    return f"{text} {yours}"


def _share_line(lang: Lang, share: dict[str, Any]) -> str:
    values = {
        "rate": share["rate_percent"],
        "lower": euros(Decimal(share["from"])),
        "taxable": euros(Decimal(share["taxable"])),
        "tax": euros(Decimal(share["tax"])),
    }
    if share["to"] is None:
        return say(lang, "line_top", **values)
    return say(lang, "line", upper=euros(Decimal(share["to"])), **values)


def _refusal(lang: Lang, plan: Calculate) -> str:
    key = f"refused_{plan.problem}"
    written = plan.written if len(plan.written) <= 40 else plan.written[:40] + "…"
    return say(lang, key, text=written, max=euros(amounts.MAX_AMOUNT))
