"""An engine that needs no provider: it reads the amount, calls calculate_tax, explains.

It goes through the same tool path as the real engines, so the receipt, the card and the audit
trail are the real thing; only the wording is canned. The thinking is in pure modules:
offline_plan (what to do with a message, follow-ups from the history included), offline_compose
(the answer), offline_text (the sentences, English and Korean) and chat.amounts (the reader).
"""

import asyncio
import json
import re
import uuid
from collections.abc import AsyncGenerator

from django.conf import settings
from django.utils.translation import gettext_noop

from chat.engines.base import EngineEvent, TextDelta, TurnDone, TurnRequest
from chat.engines.offline_compose import compose_answer
from chat.engines.offline_plan import Calculate, plan_turn

_TOKEN = re.compile(r"\S+\s*|\s+")


class OfflineEngine:
    name = "offline"
    label = gettext_noop("Offline engine (no AI provider)")
    thread_scope = "offline"

    @property
    def model_name(self) -> str:
        return "offline"

    async def stream(self, request: TurnRequest) -> AsyncGenerator[EngineEvent, None]:
        plan = plan_turn(text=request.user_text, history=request.history)
        if isinstance(plan, Calculate):
            output = await request.run_tool(
                f"offline_{uuid.uuid4().hex[:16]}",
                "calculate_tax",
                json.dumps({"revenue": plan.argument}),
            )
            answer = compose_answer(plan, output)
        else:
            answer = plan.text
        delay = settings.OFFLINE_TOKEN_DELAY
        for token in _TOKEN.findall(answer):
            if delay:
                await asyncio.sleep(delay)
            yield TextDelta(token)
        yield TurnDone()
