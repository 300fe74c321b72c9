"""What OpenAI-compatible servers really send, byte for byte, through the SDK and our engines:
dialects that are valid, endings that must be told apart, and replies that are not usable."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User

from chat.models import ToolCall
from tests.fake_openai import FakeOpenAI, Raw, Text
from tests.helpers.turns import ask

pytestmark = pytest.mark.django_db(transaction=True)

TAX_CALL = '{"revenue": "85000"}'


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> str:
    choice: dict[str, Any] = {"index": 0, "finish_reason": finish}
    if delta is not None:
        choice["delta"] = delta
    return json.dumps(
        {"id": "c1", "object": "chat.completion.chunk", "model": "m", "choices": [choice], **extra}
    )


def usage(prompt: int = 7, completion: int = 3) -> str:
    return json.dumps(
        {
            "id": "c1",
            "object": "chat.completion.chunk",
            "choices": [],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion},
        }
    )


def body(*payloads: str, done: bool = True, newline: str = "\n") -> bytes:
    text = "".join(f"data: {p}{newline}{newline}" for p in payloads)
    if done:
        text += f"data: [DONE]{newline}{newline}"
    return text.encode()


@pytest.fixture
def chat_engine(settings: Any, fake_openai: FakeOpenAI) -> FakeOpenAI:
    settings.ASSISTANT_ENGINE = "chat"
    settings.OPENAI_MAX_RETRIES = 0
    return fake_openai


# --- Valid dialects ---------------------------------------------------------------------------------


async def test_content_as_typed_parts_keeps_thinking_apart(
    alice: User, chat_engine: FakeOpenAI
) -> None:
    thinking = {"type": "thinking", "thinking": [{"type": "text", "text": "Let me see."}]}
    chat_engine.script(
        Raw(
            body(
                chunk({"role": "assistant", "content": [thinking]}),
                chunk({"content": [{"type": "text", "text": "Paris is "}]}),
                chunk({"content": [{"type": "text", "text": "the capital."}]}, "stop"),
                usage(),
            )
        )
    )
    answer = await ask(alice, "hello")
    assert (answer.status, answer.text, answer.reasoning) == (
        "complete",
        "Paris is the capital.",
        "Let me see.",
    )


async def test_choices_without_delta_are_skipped_and_the_answer_kept(
    alice: User, chat_engine: FakeOpenAI
) -> None:
    """Azure's asynchronous content filter sends choices with only filter results."""
    filtered = {
        "index": 0,
        "finish_reason": None,
        "content_filter_results": {"hate": {}},
        "content_filter_offsets": {"start_offset": 0, "end_offset": 5},
    }
    chat_engine.script(
        Raw(
            body(
                json.dumps({"id": "", "object": "", "choices": [], "prompt_filter_results": []}),
                chunk({"role": "assistant", "content": "Hello"}),
                json.dumps({"id": "c1", "object": "chat.completion.chunk", "choices": [filtered]}),
                chunk({"content": " there."}, "stop"),
                json.dumps({"id": "c1", "object": "chat.completion.chunk", "choices": [filtered]}),
                usage(9, 2),
            )
        )
    )
    answer = await ask(alice, "hello")
    assert (answer.status, answer.text) == ("complete", "Hello there.")
    assert answer.usage == {"input_tokens": 9, "output_tokens": 2}


async def test_comments_crlf_and_no_final_blank_line(alice: User, chat_engine: FakeOpenAI) -> None:
    raw = (
        b": PROCESSING\r\n\r\n"
        + body(chunk({"content": "One, "}), chunk({"content": "two."}, "stop"), newline="\r\n")
    ).removesuffix(b"\r\n")
    chat_engine.script(Raw(raw))
    answer = await ask(alice, "hello")
    assert (answer.status, answer.text) == ("complete", "One, two.")


async def test_parallel_calls_without_index_stay_separate(
    alice: User, chat_engine: FakeOpenAI
) -> None:
    """xAI and Gemini send whole calls told apart by id only; llama.cpp restarts index at 1."""
    chat_engine.script(
        Raw(
            body(
                chunk(
                    {
                        "tool_calls": [
                            {
                                "id": "a",
                                "function": {"name": "calculate_tax", "arguments": TAX_CALL},
                            }
                        ]
                    }
                ),
                chunk(
                    {
                        "tool_calls": [
                            {
                                "id": "b",
                                "function": {
                                    "name": "calculate_tax",
                                    "arguments": '{"revenue": "20000"}',
                                },
                            }
                        ]
                    }
                ),
                chunk({}, "tool_calls"),
            )
        )
    )
    answer = await ask(alice, "hello")
    receipts = [c async for c in ToolCall.objects.filter(message=answer).order_by("pk")]
    assert [(r.call_id, r.result["tax"] if r.result else None) for r in receipts] == [
        ("a", "14500.00"),
        ("b", "1000.00"),
    ]
    assert "€14500.00" in answer.text
    assert "€1000.00" in answer.text


async def test_ids_only_on_first_piece_and_index_from_one(
    alice: User, chat_engine: FakeOpenAI
) -> None:
    chat_engine.script(
        Raw(
            body(
                chunk(
                    {
                        "tool_calls": [
                            {
                                "index": 1,
                                "id": "call_x",
                                "type": "function",
                                "function": {"name": "calculate_tax", "arguments": ""},
                            }
                        ]
                    }
                ),
                chunk({"tool_calls": [{"index": 1, "id": "", "function": {"arguments": '{"rev'}}]}),
                chunk(
                    {
                        "tool_calls": [
                            {
                                "index": 1,
                                "id": "",
                                "function": {"name": "", "arguments": 'enue": "85000"}'},
                            }
                        ]
                    }
                ),
                chunk({}, "tool_calls", usage={"prompt_tokens": 5, "completion_tokens": 4}),
            )
        )
    )
    answer = await ask(alice, "hello")
    receipt = await ToolCall.objects.aget(message=answer)
    assert (receipt.call_id, receipt.raw_arguments) == ("call_x", TAX_CALL)
    assert answer.usage["input_tokens"] == 5 + 40  # finish-chunk usage, then the fake's answer


async def test_inline_think_block_cut_across_deltas_is_reasoning(
    alice: User, chat_engine: FakeOpenAI
) -> None:
    pieces = ["<th", "ink>\nThe user ", "greets me.</th", "ink>\n\nHel", "lo!"]
    chat_engine.script(
        Raw(body(*[chunk({"content": p}) for p in pieces], chunk({}, "stop"), usage()))
    )
    answer = await ask(alice, "hello")
    assert (answer.text, answer.reasoning) == ("Hello!", "\nThe user greets me.")


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
async def test_reasoning_fields_are_kept_apart(
    alice: User, chat_engine: FakeOpenAI, field: str
) -> None:
    chat_engine.script(
        Raw(body(chunk({field: "Hmm."}), chunk({"content": "Yes."}, "stop"), usage()))
    )
    answer = await ask(alice, "hello")
    assert (answer.text, answer.reasoning) == ("Yes.", "Hmm.")


# --- Endings: complete or cut ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "status"),
    [
        # No finish_reason, then usage and [DONE]: Snowflake Cortex.
        (Raw(body(chunk({"content": "Done."}), usage())), "complete"),
        # No [DONE] either, but the body ended where its framing said (chunked terminator).
        (Raw(body(chunk({"content": "Done."}), usage(), done=False)), "complete"),
        (Raw(body(chunk({"content": "Done."}), usage(), done=False), framing="length"), "complete"),
        # A body that ends only by the connection closing: nothing says it is whole...
        (
            Raw(body(chunk({"content": "Done."}), usage(), done=False), framing="close"),
            "interrupted",
        ),
        # ...unless [DONE] does.
        (Raw(body(chunk({"content": "Done."}), usage()), framing="close"), "complete"),
        # Cut mid-body: the chunked terminator never came, or fewer bytes than announced.
        (Raw(body(chunk({"content": "Done."}), usage(), done=False), cut=True), "interrupted"),
        (
            Raw(body(chunk({"content": "Done."}), done=False), framing="length", cut=True),
            "interrupted",
        ),
        # Framed end, but no usage, no finish_reason and no [DONE]: not known to be whole.
        (Raw(body(chunk({"content": "Done."}), done=False)), "interrupted"),
    ],
    ids=[
        "usage-done",
        "usage-chunked-end",
        "usage-length-end",
        "close-no-done",
        "close-done",
        "chunked-cut",
        "length-cut",
        "no-signal",
    ],
)
async def test_a_clean_end_without_finish_reason_is_told_from_a_cut(
    alice: User, chat_engine: FakeOpenAI, step: Raw, status: str
) -> None:
    chat_engine.script(step)
    answer = await ask(alice, "hello")
    assert (answer.status, answer.text) == (status, "Done.")
    if status == "interrupted":
        assert "ended before the answer was finished" in answer.status_notice or (
            "broke mid-answer" in answer.status_notice
        )


@pytest.mark.parametrize(
    "raw",
    [
        b'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"Half "}}]}\n\n'
        b'event: error\ndata: {"error": {"message": "Upstream overloaded", "code": 503}}\n\n',
        b'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"Half "}}]}\n\n'
        b'data: {"error": {"message": "Upstream overloaded", "code": 503}}\n\n',
    ],
    ids=["event-error", "error-object"],
)
async def test_error_mid_stream_keeps_the_partial_text(
    alice: User, chat_engine: FakeOpenAI, raw: bytes
) -> None:
    chat_engine.script(Raw(raw))
    answer = await ask(alice, "hello")
    assert (answer.status, answer.text) == ("interrupted", "Half ")
    assert answer.status_notice == "The AI provider reported an error: Upstream overloaded"


# --- Replies that are not usable --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "shown", "status", "text"),
    [
        (
            Raw(
                b'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"Par"}}]}\n\n'
                b"data: this is not json\n\n"
            ),
            "could not read",
            "interrupted",
            "Par",
        ),
        (
            Raw(
                b'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"Par"}}]}\n\n'
                b'data: {"id":"c1","choices":[{"index":0,"delta":{"cont\n\n'
            ),
            "could not read",
            "interrupted",
            "Par",
        ),
        (
            Raw(
                b"<html><body><h1>504 Gateway Time-out</h1></body></html>",
                content_type="text/html",
                framing="length",
            ),
            "an HTML page; a proxy or gateway",
            "error",
            "",
        ),
        (
            Raw(b"<html><body>Bad gateway</body></html>", content_type="text/event-stream"),
            "could not read",
            "error",
            "",
        ),
        (
            Raw(b"\x00\xff garbage", content_type="application/octet-stream"),
            "could not read",
            "error",
            "",
        ),
        (
            Raw(
                b"<html>502 Bad Gateway</html>",
                content_type="text/html",
                status=502,
                framing="length",
            ),
            "had an error",
            "error",
            "",
        ),
    ],
    ids=["garbage-line", "truncated-json", "html-200", "html-as-sse", "binary", "html-502"],
)
async def test_unusable_reply_ends_the_turn_clearly(
    alice: User, chat_engine: FakeOpenAI, step: Raw, shown: str, status: str, text: str
) -> None:
    chat_engine.script(step)
    answer = await ask(alice, "hello")
    assert (answer.status, answer.text) == (status, text)
    assert shown in answer.status_notice
    assert "Traceback" not in answer.status_notice
    follow_up = await ask(alice, "and now?", answer.conversation)  # the conversation goes on
    assert follow_up.status == "complete"


async def test_a_whole_json_answer_to_a_streamed_request_is_accepted(
    alice: User, chat_engine: FakeOpenAI
) -> None:
    whole = {
        "id": "c1",
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "All at once."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4},
    }
    chat_engine.script(
        Raw(json.dumps(whole).encode(), content_type="application/json", framing="length")
    )
    answer = await ask(alice, "hello")
    assert (answer.status, answer.text, answer.usage) == (
        "complete",
        "All at once.",
        {"input_tokens": 3, "output_tokens": 4},
    )


# --- The Responses engine reads the same way ----------------------------------------------------------


async def test_responses_error_event_and_missing_completion(
    alice: User, fake_openai: FakeOpenAI, settings: Any
) -> None:
    settings.ASSISTANT_ENGINE = "responses"
    settings.OPENAI_STATE_MODE = "stateless"
    delta = {
        "type": "response.output_text.delta",
        "item_id": "m",
        "output_index": 0,
        "content_index": 0,
        "delta": "Partly ",
    }
    fake_openai.script(
        Raw(
            f"event: response.output_text.delta\ndata: {json.dumps(delta)}\n\n"
            'event: error\ndata: {"type": "error", "code": "server_error", '
            '"message": "Model crashed"}\n\n'.encode()
        ),
        Raw(f"data: {json.dumps(delta)}\n\n".encode()),
    )
    first = await ask(alice, "hello")
    assert (first.status, first.text) == ("interrupted", "Partly ")
    assert first.status_notice == "The AI provider reported an error: Model crashed"
    second = await ask(alice, "again", first.conversation)
    assert (second.status, second.text) == ("interrupted", "Partly ")
    assert "ended before the answer was finished" in second.status_notice


async def test_text_before_a_tool_call_is_its_own_paragraph(
    alice: User, fake_openai: FakeOpenAI, settings: Any
) -> None:
    from tests.fake_openai import ToolCalls

    settings.ASSISTANT_ENGINE = "chat"
    fake_openai.script(ToolCalls([("calculate_tax", TAX_CALL)], text="Reading it."))
    answer = await ask(alice, "hello")
    assert answer.text == "Reading it.\n\nThe tax on €85000.00 is €14500.00."
    follow_up = fake_openai.requests_to("/chat/completions")[1].body["messages"]
    assert follow_up[-2]["content"] == "Reading it."  # the round's own text, no reasoning


async def test_reasoning_is_stored_apart_and_never_replayed(
    alice: User, fake_openai: FakeOpenAI, settings: Any
) -> None:
    settings.ASSISTANT_ENGINE = "chat"
    fake_openai.script(Text("Forty-two.", reasoning="SECRET chain of thought"))
    first = await ask(alice, "hello")
    assert (first.text, first.reasoning) == ("Forty-two.", "SECRET chain of thought")
    await ask(alice, "and?", first.conversation)
    sent = json.dumps(fake_openai.requests_to("/chat/completions")[-1].body)
    assert "Forty-two." in sent
    assert "SECRET" not in sent


async def test_an_event_stream_under_another_content_type_is_read(
    alice: User, chat_engine: FakeOpenAI
) -> None:
    chat_engine.script(
        Raw(body(chunk({"content": "Plain."}, "stop"), usage()), content_type="text/plain")
    )
    answer = await ask(alice, "hello")
    assert (answer.status, answer.text) == ("complete", "Plain.")


async def test_garbage_in_an_assistants_stream_is_explained(
    alice: User, fake_openai: FakeOpenAI, settings: Any
) -> None:
    settings.ASSISTANT_ENGINE = "assistants"
    fake_openai.script(Raw(b"event: thread.run.created\ndata: {not json\n\n"))
    answer = await ask(alice, "hello")
    assert answer.status == "error"
    assert answer.status_notice == "The AI provider sent a reply we could not read."


@pytest.mark.parametrize(
    "pieces",
    [
        # One id for both calls, told apart by index (servers that number ids badly).
        [{"index": 0, "id": "call_0"}, {"index": 1, "id": "call_0"}],
        # Index 0 for every call, told apart by id (servers that never count).
        [{"index": 0, "id": "call_a"}, {"index": 0, "id": "call_b"}],
    ],
    ids=["same-id-two-indexes", "same-index-two-ids"],
)
async def test_two_parallel_calls_stay_two(
    alice: User, chat_engine: FakeOpenAI, pieces: list[dict[str, Any]]
) -> None:
    revenues = ["85000", "20000"]
    chunks = [
        chunk(
            {
                "tool_calls": [
                    {
                        **piece,
                        "type": "function",
                        "function": {
                            "name": "calculate_tax",
                            "arguments": json.dumps({"revenue": revenue}),
                        },
                    }
                ]
            }
        )
        for piece, revenue in zip(pieces, revenues, strict=True)
    ]
    chat_engine.script(Raw(body(*chunks, chunk({}, "tool_calls"))))
    answer = await ask(alice, "hello")
    receipts = [c async for c in ToolCall.objects.filter(message=answer).order_by("pk")]
    assert [r.result["revenue"] if r.result else r.error for r in receipts] == [
        "85000.00",
        "20000.00",
    ]
    messages = chat_engine.requests_to("/chat/completions")[1].body["messages"]
    calls = [c["id"] for m in messages for c in m.get("tool_calls") or []]
    assert calls == [m["tool_call_id"] for m in messages if m["role"] == "tool"]
    assert len(set(calls)) == 2  # sent back under ids that cannot be confused


# --- Paced reading ----------------------------------------------------------------------------------


async def test_a_stream_stopped_while_it_waits_for_the_read_tick_does_not_stop_the_others() -> None:
    """Paced streams share one timer per event loop: stopping one (Stop, a closed page) while
    it waits must leave the tick, and the other answers, going."""
    import asyncio

    from chat.engines.wire import _next_tick

    stopped = asyncio.ensure_future(_next_tick(0.05))
    other = asyncio.ensure_future(_next_tick(0.05))
    await asyncio.sleep(0)  # both wait for the same tick
    stopped.cancel()
    await asyncio.wait_for(other, 1)
    assert stopped.cancelled()
