"""An engine that needs no provider: it finds a revenue, calls calculate_tax, explains the result.

It goes through the same tool path as the real engines, so the receipt, the card and the audit
trail are the real thing; only the wording is canned.
"""

import asyncio
import json
import re
import uuid
from collections.abc import AsyncGenerator
from decimal import Decimal

from django.conf import settings

from chat.engines.base import (
    EngineEvent,
    TextDelta,
    TurnDone,
    TurnRequest,
)

_AMOUNT = re.compile(
    r"""
    (?P<euro_before>€\s*)?
    (?<![\d.,])(?P<number>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?P<fraction>\.[0-9]+)?
    \s*(?P<thousands>k\b|thousand\b)?
    \s*(?P<euro_after>€|eur\b|euros?\b)?
    """,
    re.VERBOSE | re.IGNORECASE | re.ASCII,
)
_TOPIC = re.compile(r"tax|revenue|income|earn|turnover|€|\beur", re.IGNORECASE)
_TOKEN = re.compile(r"\S+\s*|\s+")


def find_revenue(text: str) -> str | None:
    """The revenue a question is about, as a plain number string, or None.

    An amount written with a currency or 'k' wins over a bare number (so "in 2025 I earned
    €85k" means 85000, not 2025); among bare numbers the largest wins.
    """
    if not _TOPIC.search(text):
        return None
    marked: list[Decimal] = []
    bare: list[Decimal] = []
    for match in _AMOUNT.finditer(text):
        value = Decimal(match["number"].replace(",", "") + (match["fraction"] or ""))
        if match["thousands"]:
            value *= 1000
        if match["euro_before"] or match["euro_after"] or match["thousands"]:
            marked.append(value)
        else:
            bare.append(value)
    candidates = marked or bare
    if not candidates:
        return None
    chosen = marked[0] if marked else max(bare)
    return format(chosen.normalize(), "f")


def _euros(amount: str) -> str:
    return f"€{Decimal(amount):,.2f}"


def compose_answer(output: str) -> str:
    """The Markdown answer for a calculate_tax output (a result or an error)."""
    data = json.loads(output)
    if "error" in data:
        return f"I could not calculate that: {data['error']}"
    lines = [
        f"On a yearly revenue of **{_euros(data['revenue'])}** the tax is "
        f"**{_euros(data['tax'])}** (an effective rate of {data['effective_rate_percent']} %).",
        "",
        "How it adds up:",
        "",
    ]
    for share in data["breakdown"]:
        upper = f"up to {_euros(share['to'])}" if share["to"] else "above"
        lower = _euros(share["from"])
        span = f"from {lower} {upper}" if share["to"] else f"{upper} {lower}"
        lines.append(
            f"- {share['rate_percent']} % {span}: {_euros(share['taxable'])} taxed, "
            f"{_euros(share['tax'])}"
        )
    lines += ["", "_This is a demonstration tax table, not real tax law._"]
    return "\n".join(lines)


NO_AMOUNT_ANSWER = (
    "I am the **offline engine**: I answer without any AI provider, so I can only calculate "
    "the tax on a yearly revenue in euros. Try: *What is the tax on 85,000 euros of revenue?*\n\n"
    "For free-form answers, set `OPENAI_API_KEY` (and optionally `OPENAI_MODEL` or "
    "`OPENAI_BASE_URL` for a local server) and restart the app. See the README."
)


class OfflineEngine:
    name = "offline"
    label = "Offline engine (no AI provider)"
    thread_scope = "offline"

    @property
    def model_name(self) -> str:
        return "offline"

    async def stream(self, request: TurnRequest) -> AsyncGenerator[EngineEvent, None]:
        revenue = find_revenue(request.user_text)
        if revenue is None:
            answer = NO_AMOUNT_ANSWER
        else:
            output = await request.run_tool(
                f"offline_{uuid.uuid4().hex[:16]}",
                "calculate_tax",
                json.dumps({"revenue": revenue}),
            )
            answer = compose_answer(output)
        delay = settings.OFFLINE_TOKEN_DELAY
        tokens = _TOKEN.findall(answer)
        for token in tokens:
            if delay:
                await asyncio.sleep(delay)
            yield TextDelta(token)
        yield TurnDone()
