"""The grounding check at the end of a real turn: through the consumer, with the real SDK against
the fake OpenAI server, and with the offline engine.

These run once the turn calls chat.grounding.answer_check_figures when it finishes (the lead
wires that in chat/turns.py); until then they skip, saying so.
"""

import asyncio
import inspect
from typing import Any

import pytest
from django.contrib.auth.models import User

from chat import services, turns
from chat.models import Message
from tests.fake_openai import FakeOpenAI, Text, ToolCalls
from tests.helpers.sockets import (
    ORIGIN,
    frame,
    is_appended,
    is_finished_bubble,
    receive_until,
    session_cookie,
    socket_for,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        "answer_check_figures" not in inspect.getsource(turns),
        reason="the turn does not call the grounding check yet (chat/turns.py)",
    ),
]

QUESTION = "What is the tax on 85,000 euros of revenue?"


async def ask_over_the_socket(user: User, text: str) -> tuple[Message, str]:
    conversation = await asyncio.to_thread(services.conversation_get_or_create_empty, owner=user)
    cookie = await asyncio.to_thread(session_cookie, user)
    socket = socket_for(f"/ws/conversations/{conversation.pk}/", [ORIGIN, cookie])
    assert (await socket.connect())[0]
    await socket.receive_from()
    await socket.send_to(text_data=frame(text))
    await receive_until(socket, is_appended)
    answer = await Message.objects.aget(conversation=conversation, role="assistant")
    frames = await receive_until(socket, is_finished_bubble(answer.pk), timeout=15)
    await socket.disconnect()
    await answer.arefresh_from_db()
    return answer, frames[-1]


@pytest.mark.parametrize(
    ("answer_text", "verified", "unsupported"),
    [
        ("The tax on €85,000 is **€14,500.00** (17.06 %).", True, []),
        ("The tax on 85.000 € is 14 500 €, about 17 %.", True, []),
        ("The tax on €85,000 is **€12,000.00**, an effective rate of 14 %.", False,
         ["€12,000.00", "14 %"]),
    ],
)  # fmt: skip
async def test_a_model_answer_is_checked_and_the_note_is_sent(
    alice: User,
    fake_openai: FakeOpenAI,
    settings: Any,
    answer_text: str,
    verified: bool,
    unsupported: list[str],
) -> None:
    settings.ASSISTANT_ENGINE = "chat"
    fake_openai.script(ToolCalls([("calculate_tax", '{"revenue": "85000"}')]), Text(answer_text))
    answer, last_frame = await ask_over_the_socket(alice, QUESTION)
    assert answer.status == "complete"
    assert answer.figures_verified is verified
    assert answer.unverified_figures == unsupported
    assert ("not verified" in last_frame) is (not verified)
    for figure in unsupported:
        assert f'<span class="grounding-figure">{figure}</span>' in last_frame


@pytest.mark.parametrize(
    "question",
    [
        QUESTION,
        "I earn €1.2M, what do I owe?",
        "연 수입 8만 5천 유로면 세금이 얼마인가요?",
        "tax on -5 euros",
        "tax on 1.200",
        "explain the 20 % bracket",
        "hello",
    ],
)
async def test_offline_answers_always_pass(alice: User, settings: Any, question: str) -> None:
    settings.ASSISTANT_ENGINE = "offline"
    answer, last_frame = await ask_over_the_socket(alice, question)
    assert answer.figures_verified is True
    assert answer.unverified_figures == []
    assert "not verified" not in last_frame
