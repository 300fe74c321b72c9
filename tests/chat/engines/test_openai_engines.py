"""The OpenAI engines through the real openai SDK, over real HTTP, against the fake server."""

import asyncio
import json
import time
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from chat import services, turns
from chat.engines import get_engine
from chat.engines.client import SDK_TELEMETRY_HEADERS
from chat.models import Conversation, Message, ToolCall
from tests.fake_openai import (
    WIRE,
    Failed,
    FakeOpenAI,
    Incomplete,
    Refusal,
    Replay,
    Status,
    Text,
    ToolCalls,
)
from tests.helpers.adapters import Adapter
from tests.helpers.frames import delta_frames, streamed_text
from tests.helpers.sockets import (
    ORIGIN,
    frame,
    is_appended,
    is_finished_bubble,
    receive_until,
    session_cookie,
    socket_for,
)
from tests.helpers.turns import ask

pytestmark = pytest.mark.django_db(transaction=True)

ENGINES = ["responses", "chat", "assistants"]


def expected_text(sse_file: str) -> str:
    """The text a captured Responses body streams, joined from its deltas."""
    text = []
    for line in (WIRE / sse_file).read_text().splitlines():
        if line.startswith("data: {"):
            data = json.loads(line[6:])
            if data.get("type") == "response.output_text.delta":
                text.append(data["delta"])
    return "".join(text)


# --- A full tax turn, per engine -------------------------------------------------------------------


async def test_tax_turn_streams_over_the_socket_and_persists_everything(
    alice: User, fake_openai: FakeOpenAI, settings: Any, adapter: Adapter
) -> None:
    fake_openai.token_delay = 0.04
    conversation = await asyncio.to_thread(services.conversation_get_or_create_empty, owner=alice)
    cookie = await asyncio.to_thread(session_cookie, alice)
    socket = socket_for(f"/ws/conversations/{conversation.pk}/", [ORIGIN, cookie])
    assert (await socket.connect())[0]
    await socket.receive_from()
    await socket.send_to(text_data=frame("What is the tax on 85,000 euros of revenue?"))
    await receive_until(socket, is_appended)
    answer = await Message.objects.aget(conversation=conversation, role="assistant")
    frames = await receive_until(socket, is_finished_bubble(answer.pk), timeout=15)
    await socket.disconnect()
    assert len(delta_frames(frames, answer.pk)) >= 2  # the answer arrived in pieces
    assert "The tax on" in streamed_text(frames, answer.pk)
    assert "€14,500.00" in frames[-1]  # the card
    assert "The tax on €85000.00 is €14500.00." in frames[-1]

    await answer.arefresh_from_db()
    await conversation.arefresh_from_db()
    assert answer.status == "complete"
    assert answer.engine == adapter.engine
    assert answer.usage["output_tokens"] > 0
    call = await ToolCall.objects.aget(message=answer)
    assert call.result is not None
    assert call.result["tax"] == "14500.00"
    adapter.check_tax_turn(conversation, adapter.generations(fake_openai), call)
    # Every request is ours (the key), and none describes this machine to the provider.
    for request in fake_openai.requests:
        names = {name.lower() for name in request.headers}
        assert "authorization" in names
        assert not names & {name.lower() for name in SDK_TELEMETRY_HEADERS}, request.path


async def test_resumed_conversation_continues_the_same_provider_thread(
    alice: User, fake_openai: FakeOpenAI, settings: Any, adapter: Adapter
) -> None:
    first = await ask(alice, "tax on 85000 EUR")
    second = await ask(alice, "and what about 20000?", first.conversation)
    assert second.status == "complete"
    assert "€20000.00 is €1000.00" in second.text
    adapter.check_resumed(fake_openai, first)


# --- Errors a person sees --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "shown", "status"),
    [
        (
            [Status(404, "The model does not exist")],
            "does not know the model 'gpt-5-mini' (404)",
            "error",
        ),
        ([Status(429, headers={"retry-after": "600"})], "(429). Try again in 10 min.", "error"),
        ([Status(500)] * 3, "did not recover after retries", "error"),
        ([Status(400, "bad")], "refused the request (400)", "error"),
        (
            [Text("one two three four five", error_after=2)],
            "reported an error: The server had an error",
            "interrupted",
        ),
        ([Text("one two three four five", drop_after=2)], "mid-answer", "interrupted"),
    ],
    ids=["404", "429-long", "5xx", "400", "error-event", "dropped"],
)
async def test_provider_fault_ends_the_turn_clearly_and_the_conversation_goes_on(
    alice: User,
    fake_openai: FakeOpenAI,
    settings: Any,
    adapter: Adapter,
    steps: list[Any],
    shown: str,
    status: str,
) -> None:
    if any(getattr(step, "drop_after", None) for step in steps):
        # Paced reading holds the last deltas in the socket for up to 50 ms, and the HTTP layer
        # raises a broken connection before handing them over: read each one at once here, so
        # that "the words received before the break are kept" is exact.
        settings.CHAT_PROVIDER_READ_SECONDS = 0
    fake_openai.script(*steps)
    answer = await ask(alice, "hello")
    assert answer.status == status
    assert shown in answer.status_notice
    assert "Traceback" not in answer.status_notice
    if status == "interrupted":
        assert answer.text == "one two "  # partial text kept
    question = await Message.objects.aget(conversation=answer.conversation, role="user")
    assert question.text == "hello"  # the person's message kept
    follow_up = await ask(alice, "tax on 85000 EUR", answer.conversation)
    assert follow_up.status == "complete"
    assert "€14500.00" in follow_up.text


async def test_short_retry_after_is_retried_by_the_sdk(
    alice: User, fake_openai: FakeOpenAI, settings: Any, adapter: Adapter
) -> None:
    fake_openai.script(Status(429, headers={"retry-after-ms": "50"}), Text("Recovered."))
    answer = await ask(alice, "hello")
    assert (answer.status, answer.text) == ("complete", "Recovered.")
    assert len(adapter.generations(fake_openai)) == 2


async def test_long_retry_after_is_not_retried(
    alice: User, fake_openai: FakeOpenAI, settings: Any, adapter: Adapter
) -> None:
    fake_openai.script(Status(429, headers={"retry-after": "600"}))
    await ask(alice, "hello")
    assert len(adapter.generations(fake_openai)) == 1


async def test_bad_key_is_explained(
    alice: User, fake_openai: FakeOpenAI, settings: Any, adapter: Adapter
) -> None:
    settings.OPENAI_API_KEY = "wrong-key"
    answer = await ask(alice, "hello")
    assert answer.status == "error"
    assert "rejected our API key (401)" in answer.status_notice


async def test_staff_get_the_providers_words_and_the_person_plain_ones(
    alice: User, fake_openai: FakeOpenAI, settings: Any, adapter: Adapter
) -> None:
    fake_openai.script(Status(400, "max_tokens is too large for this model"))
    answer = await ask(alice, "hello")
    assert answer.status == "error"
    assert "BadRequestError" in answer.provider_detail
    assert "400" in answer.provider_detail
    assert "BadRequestError" not in answer.status_notice


async def test_slow_first_token_times_out_clearly(
    alice: User, fake_openai: FakeOpenAI, settings: Any, adapter: Adapter
) -> None:
    settings.OPENAI_TIMEOUT = 0.5
    fake_openai.script(Text("late answer", first_delay=1.5))
    answer = await ask(alice, "hello")
    assert answer.status == "error"
    assert "took too long" in answer.status_notice


async def test_a_provider_gone_silent_mid_answer_times_out_and_keeps_the_words(
    alice: User, fake_openai: FakeOpenAI, settings: Any, adapter: Adapter
) -> None:
    """The read timeout mid-stream is kept by the stall watch (chat.engines.wire), not by the
    HTTP client: the answer still ends, with what came before the silence."""
    settings.OPENAI_TIMEOUT = 0.5
    fake_openai.script(Text("words before the silence and after", stall_after=3, stall_seconds=3))
    started = time.monotonic()
    answer = await ask(alice, "hello")
    assert time.monotonic() - started < 2.5  # ended by the timeout, not by the stall's end
    assert answer.status == "interrupted"
    assert "took too long" in answer.status_notice
    assert answer.text.strip() == "words before the"


async def test_unreachable_provider_is_explained(
    alice: User, fake_openai: FakeOpenAI, settings: Any, adapter: Adapter
) -> None:
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"  # nothing listens on the discard port
    settings.OPENAI_MAX_RETRIES = 0
    answer = await ask(alice, "hello")
    assert answer.status == "error"
    assert "Could not reach the AI provider" in answer.status_notice


@pytest.mark.parametrize("engine", ["responses", "assistants"])
@pytest.mark.parametrize(
    ("step", "shown", "status"),
    [
        (Failed("overloaded"), "could not produce an answer", "error"),
        (Incomplete(text="Cut"), "cut short", "interrupted"),
    ],
    ids=["failed", "incomplete"],
)
async def test_failed_or_incomplete_response(
    alice: User,
    fake_openai: FakeOpenAI,
    settings: Any,
    engine: str,
    step: Any,
    shown: str,
    status: str,
) -> None:
    settings.ASSISTANT_ENGINE = engine
    fake_openai.script(step)
    answer = await ask(alice, "hello")
    assert answer.status == status
    assert shown in answer.status_notice


@pytest.mark.parametrize("engine", ["responses", "chat"])
async def test_refusal_is_shown_and_ends_the_turn(
    alice: User, fake_openai: FakeOpenAI, settings: Any, engine: str
) -> None:
    settings.ASSISTANT_ENGINE = engine
    fake_openai.script(Refusal("I can't help with that."))
    answer = await ask(alice, "hello")
    assert answer.text == "I can't help with that."
    assert answer.status == "error"
    assert "declined" in answer.status_notice


# --- Tools ----------------------------------------------------------------------------------------------


async def test_parallel_calls_unknown_tools_and_bad_arguments_all_get_outputs(
    alice: User, fake_openai: FakeOpenAI, adapter: Adapter
) -> None:
    fake_openai.script(
        ToolCalls(
            [
                ("calculate_tax", '{"revenue": "85000"}'),
                ("search", '{"q": "rates"}'),
                ("calculate_tax", '{"revenue": "-5"}'),
                ("calculate_tax", '{"revenue": '),
            ]
        )
    )
    answer = await ask(alice, "hello")
    assert answer.status == "complete"
    receipts = [c async for c in ToolCall.objects.filter(message=answer).order_by("pk")]
    assert [bool(r.error) for r in receipts] == [False, True, True, True]
    assert "The tax on €85000.00 is €14500.00." in answer.text
    assert "Unknown tool 'search'" in answer.text
    answered = adapter.generations(fake_openai)[1].body
    # Every call id got exactly one output.
    assert adapter.outputs_sent(answered) == [r.call_id for r in receipts]


async def test_tool_loop_is_capped_then_answered(
    alice: User, fake_openai: FakeOpenAI, settings: Any, adapter: Adapter
) -> None:
    settings.ASSISTANT_MAX_TOOL_ROUNDS = 2
    fake_openai.script(*[ToolCalls([("calculate_tax", '{"revenue": "1000"}')])] * 3)
    answer = await ask(alice, "hello")
    sent = adapter.generations(fake_openai)
    if not adapter.can_force_answer:  # the run is cancelled instead
        assert answer.status == "error"
        assert "stopped after 2 rounds" in answer.status_notice
        assert fake_openai.requests[-1].path.endswith("/cancel")
    else:
        assert answer.status == "complete"
        assert len(sent) == 3
        assert sent[-1].body["tool_choice"] == "none"


# --- Replays of real captures -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (
            "recorded/responses-stream-with-tools-responses-1.sse",
            "recorded/responses-stream-with-tools-responses-2.sse",
        ),
        (
            "recorded/responses-stream-multi-tool-conversation-responses-1.sse",
            "recorded/responses-stream-multi-tool-conversation-responses-2.sse",
        ),
        (
            "recorded/responses-stream-falsy-argument-conversation-responses-1.sse",
            "recorded/responses-stream-falsy-argument-conversation-responses-2.sse",
        ),
        ("constructed/responses_1.sse", "constructed/responses_2.sse"),
    ],
)
async def test_recorded_responses_streams(
    alice: User, fake_openai: FakeOpenAI, settings: Any, first: str, second: str
) -> None:
    settings.ASSISTANT_ENGINE = "responses"
    fake_openai.script(Replay(first), Replay(second))
    answer = await ask(alice, "hello")
    assert answer.status == "complete"
    assert answer.text == expected_text(second)  # the text arrives whole
    receipts = [c async for c in ToolCall.objects.filter(message=answer).order_by("pk")]
    assert receipts
    outputs = fake_openai.requests_to("/responses")[1].body["input"]
    assert [o["call_id"] for o in outputs] == [r.call_id for r in receipts]
    for receipt in receipts:
        if receipt.name != "calculate_tax":
            assert f"Unknown tool '{receipt.name}'" in receipt.output


async def test_recorded_basic_text_arrives_whole(
    alice: User, fake_openai: FakeOpenAI, settings: Any
) -> None:
    settings.ASSISTANT_ENGINE = "responses"
    body = "recorded/responses-stream-basic-text-responses-1.sse"
    fake_openai.script(Replay(body))
    answer = await ask(alice, "hello")
    assert answer.status == "complete"
    assert answer.text == expected_text(body)
    assert len(answer.text) > 200


async def test_constructed_responses_turn_gives_the_article_answer(
    alice: User, fake_openai: FakeOpenAI, settings: Any
) -> None:
    settings.ASSISTANT_ENGINE = "responses"
    fake_openai.script(Replay("constructed/responses_1.sse"), Replay("constructed/responses_2.sse"))
    answer = await ask(alice, "tax on 50000?")
    assert answer.text == "The tax on €50,000 is €6,000."
    receipt = await ToolCall.objects.aget(message=answer)
    assert receipt.result is not None
    assert receipt.result["tax"] == "6000.00"
    # Both rounds' usage, summed (60 + 95 in, 18 + 12 out in the captured bodies).
    assert answer.usage == {"input_tokens": 155, "output_tokens": 30}


@pytest.mark.parametrize(
    "first",
    [
        "recorded/chat-parallel-tool-calls.sse",
        "recorded/chat-single-tool-call.sse",
        "constructed/chat_1.sse",
    ],
)
async def test_recorded_chat_streams(
    alice: User, fake_openai: FakeOpenAI, settings: Any, first: str
) -> None:
    settings.ASSISTANT_ENGINE = "chat"
    fake_openai.script(Replay(first))
    answer = await ask(alice, "hello")
    assert answer.status == "complete"
    receipts = [c async for c in ToolCall.objects.filter(message=answer).order_by("pk")]
    assert receipts
    second = fake_openai.requests_to("/chat/completions")[1].body["messages"]
    assistant = [m for m in second if m["role"] == "assistant"][-1]
    assert [c["id"] for c in assistant["tool_calls"]] == [r.call_id for r in receipts]
    assert [m["tool_call_id"] for m in second if m["role"] == "tool"] == [
        r.call_id for r in receipts
    ]
    for receipt in receipts:
        assert json.loads(receipt.raw_arguments) is not None  # arguments assembled whole


async def test_constructed_assistants_flow(
    alice: User, fake_openai: FakeOpenAI, settings: Any
) -> None:
    settings.ASSISTANT_ENGINE = "assistants"
    fake_openai.script(
        Replay("constructed/assistants_1_run.sse"),
        Replay("constructed/assistants_2_submit_tool_outputs.sse"),
    )
    answer = await ask(alice, "tax on 50000?")
    assert (answer.status, answer.text) == ("complete", "The tax on €50,000 is €6,000.")
    submitted = fake_openai.requests_to("/submit_tool_outputs")
    assert "/runs/run_abc123/submit_tool_outputs" in submitted[0].path
    output = submitted[0].body["tool_outputs"][0]
    assert output["tool_call_id"] == "call_tax1"
    assert json.loads(output["output"])["tax"] == "6000.00"


# --- State modes and engine changes ------------------------------------------------------------------


async def test_previous_response_id_mode_chains_responses(
    alice: User, fake_openai: FakeOpenAI, settings: Any
) -> None:
    settings.ASSISTANT_ENGINE = "responses"
    settings.OPENAI_STATE_MODE = "previous_response_id"
    first = await ask(alice, "tax on 85000 EUR")
    await ask(alice, "hello again", first.conversation)
    sent = fake_openai.requests_to("/responses")
    assert not fake_openai.requests_to("/conversations")
    assert "previous_response_id" not in sent[0].body
    # Round two answers the tool call on top of round one's response...
    assert sent[1].body["previous_response_id"].startswith("resp_")
    # ...and the next turn chains onto the last response of the first turn, which is stored.
    assert sent[2].body["previous_response_id"] == first.conversation.provider_thread_id
    assert sent[2].body["previous_response_id"] != sent[1].body["previous_response_id"]
    assert sent[2].body["input"] == [{"type": "message", "role": "user", "content": "hello again"}]


async def test_stateless_mode_rebuilds_history_with_tool_calls(
    alice: User, fake_openai: FakeOpenAI, settings: Any
) -> None:
    settings.ASSISTANT_ENGINE = "responses"
    settings.OPENAI_STATE_MODE = "stateless"
    first = await ask(alice, "tax on 85000 EUR")
    await ask(alice, "hello again", first.conversation)
    sent = fake_openai.requests_to("/responses")
    kinds = [i.get("type") for i in sent[-1].body["input"]]
    assert kinds == ["message", "function_call", "function_call_output", "message", "message"]
    assert "conversation" not in sent[-1].body


async def test_engine_change_replays_history_into_a_new_thread(
    alice: User, fake_openai: FakeOpenAI, settings: Any
) -> None:
    settings.ASSISTANT_ENGINE = "responses"
    first = await ask(alice, "tax on 85000 EUR")
    old_thread = first.conversation.provider_thread_id
    settings.ASSISTANT_ENGINE = "assistants"
    second = await ask(alice, "and 20000?", first.conversation)
    assert second.status == "complete"
    conversation = await Conversation.objects.aget(pk=first.conversation_id)
    assert conversation.provider_thread_id.startswith("thread_")
    assert conversation.thread_scope == "assistants"
    assert conversation.previous_provider_threads[0]["thread_id"] == old_thread
    replayed = fake_openai.requests_to("/threads")[0].body["messages"]
    assert replayed[0] == {"role": "user", "content": "tax on 85000 EUR"}
    assert "14500.00" in replayed[1]["content"]


async def test_offline_history_is_replayed_into_a_new_openai_conversation(
    alice: User, fake_openai: FakeOpenAI, settings: Any
) -> None:
    settings.ASSISTANT_ENGINE = "offline"
    first = await ask(alice, "tax on 85000 EUR")
    settings.ASSISTANT_ENGINE = "responses"
    await ask(alice, "hello", first.conversation)
    items = fake_openai.requests_to("/conversations")[0].body["items"]
    assert [i["type"] for i in items] == [
        "message",
        "function_call",
        "function_call_output",
        "message",
    ]


# --- The ask command ------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_ask_command_works_with_each_engine(
    alice: User,
    fake_openai: FakeOpenAI,
    settings: Any,
    engine: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    call_command(
        "ask", "What is the tax on 85,000 euros?", user="alice", engine=engine, stdout=StringIO()
    )
    printed = capsys.readouterr().out
    assert "The tax on €85000.00 is €14500.00." in printed
    assert Message.objects.get(role="assistant").engine == engine


@pytest.mark.parametrize("engine", ENGINES)
async def test_stop_closes_the_upstream_stream_promptly_and_keeps_the_partial_answer(
    alice: User, fake_openai: FakeOpenAI, settings: Any, engine: str
) -> None:
    from chat import runner

    settings.ASSISTANT_ENGINE = engine
    fake_openai.token_delay = 0.1
    fake_openai.script(Text.of_length(200))  # 20 s of answer if nobody stops it
    conversation = await asyncio.to_thread(services.conversation_get_or_create_empty, owner=alice)
    engine_ = get_engine()
    started = await asyncio.to_thread(
        turns.turn_start, conversation=conversation, text="hello", engine=engine_
    )
    turn = await runner.turn_launch(
        conversation_id=conversation.pk, message_id=started.assistant_message.pk, engine=engine_
    )
    for _ in range(50):  # until some of the answer has arrived
        await asyncio.sleep(0.1)
        if (
            fake_openai.requests
            and "word" in (await Message.objects.aget(pk=started.assistant_message.pk)).text
        ):
            break
    await asyncio.sleep(0.3)
    stopped_at = asyncio.get_running_loop().time()
    await runner.turn_stop(conversation_id=conversation.pk)
    await asyncio.wait_for(turn.done.wait(), timeout=5)
    assert asyncio.get_running_loop().time() - stopped_at < 1.0
    answer = await Message.objects.aget(pk=started.assistant_message.pk)
    assert answer.status == "interrupted"
    assert answer.text.startswith("word0 ")  # the partial answer is kept
    assert len(answer.text) < 400
    for _ in range(30):  # the fake notices the closed connection at its next write
        if fake_openai.disconnects:
            break
        await asyncio.sleep(0.1)
    assert fake_openai.disconnects == 1


# --- Reading a busy stream ---------------------------------------------------------------------


async def _text_events(settings: Any, read_every: float, words: str) -> list[str]:
    """The text events the configured engine yields for one streamed answer."""
    from chat.engines.base import TextDelta, ToolSpec, TurnRequest
    from chat.provider_state import StoredProviderResources
    from chat.tools.registry import registry

    async def no_tools(call_id: str, name: str, arguments: str) -> str:
        return ""

    settings.CHAT_PROVIDER_READ_SECONDS = read_every
    request = TurnRequest(
        user_text="hello",
        history=[],
        provider_thread_id="",
        tools=[ToolSpec(t.name, t.description, t.parameters) for t in registry.schemas()],
        max_tool_rounds=1,
        max_tool_calls=4,
        run_tool=no_tools,
        resources=StoredProviderResources(),
    )
    return [e.text async for e in get_engine().stream(request) if isinstance(e, TextDelta)]


@pytest.mark.parametrize("engine", ["chat", "responses"])
async def test_a_busy_stream_is_read_in_batches_with_nothing_lost(
    fake_openai: FakeOpenAI, settings: Any, engine: str
) -> None:
    """After the first words, the deltas that arrive between two reads are handled as one:
    the first words are not held back, and the text is whole and in order."""
    settings.ASSISTANT_ENGINE = engine
    settings.OPENAI_STATE_MODE = "stateless"
    words = " ".join(f"w{i}" for i in range(40))
    fake_openai.token_delay = 0.01  # 40 deltas over 400 ms
    fake_openai.script(Text(words))
    paced = await _text_events(settings, 0.1, words)
    fake_openai.script(Text(words))
    unpaced = await _text_events(settings, 0, words)
    assert "".join(paced) == "".join(unpaced)
    assert "".join(paced).split() == words.split()
    assert paced[0].split() == ["w0"]  # the first word alone, at once
    assert len(paced) <= 10  # about one read per 100 ms
    assert len(unpaced) >= 30  # each delta as it came
