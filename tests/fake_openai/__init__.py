"""A fake OpenAI server on 127.0.0.1 that speaks the real SSE wire formats.

It serves POST /v1/responses, /v1/conversations, /v1/chat/completions, /v1/assistants,
/v1/threads, /v1/threads/{id}/messages, /v1/threads/{id}/runs and .../submit_tool_outputs, so the
real `openai` SDK can be tested over real HTTP (respx cannot intercept httpx2).

Without a script it behaves like a small tax model: a question with a number gets a
`calculate_tax` call; tool outputs get an answer that states the figure; anything else gets a
short text. Tests queue scripted steps (`steps.py`: text, reasoning, tool calls, HTTP errors, an
error event mid-stream, a dropped connection, a slow first token, raw bytes, and recorded
captures of real providers served unchanged) and read `requests` to assert what the client sent.

One module per wire format (`responses.py`, `chat.py`, `assistants.py`), the captures
(`captures.py`), the server and its route table (`server.py`). Run standalone:
    python -m tests.fake_openai --port 8001
    python -m tests.fake_openai --port 8001 --capture recorded/pydantic-ai/<file>.yaml
    OPENAI_API_KEY=sk-fake OPENAI_BASE_URL=http://127.0.0.1:8001/v1 make run
"""

from tests.fake_openai.captures import Captured, load_capture
from tests.fake_openai.server import FakeOpenAI
from tests.fake_openai.steps import (
    WIRE,
    Capture,
    Failed,
    Incomplete,
    Raw,
    Recorded,
    Refusal,
    Replay,
    Status,
    Step,
    Text,
    ToolCalls,
    smart_step,
)

__all__ = [
    "WIRE",
    "Capture",
    "Captured",
    "Failed",
    "FakeOpenAI",
    "Incomplete",
    "Raw",
    "Recorded",
    "Refusal",
    "Replay",
    "Status",
    "Step",
    "Text",
    "ToolCalls",
    "load_capture",
    "smart_step",
]
