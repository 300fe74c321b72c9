"""A fake OpenAI server on 127.0.0.1 that speaks the real SSE wire format.

It serves POST /v1/responses, /v1/conversations, /v1/chat/completions, /v1/assistants,
/v1/threads, /v1/threads/{id}/messages, /v1/threads/{id}/runs and .../submit_tool_outputs, so the
real `openai` SDK can be tested over real HTTP (respx cannot intercept httpx2).

Without a script it behaves like a small tax model: a question with a number gets a
`calculate_tax` call; tool outputs get an answer that states the figure; anything else gets a
short text. Tests queue scripted steps (text, tool calls, HTTP errors, an error event mid-stream,
a dropped connection, a slow first token, replays of captured bodies) and read `requests` to
assert what the client sent.

Run standalone for `make run` against it:
    python -m tests.fake_openai --port 8001
    OPENAI_API_KEY=sk-fake OPENAI_BASE_URL=http://127.0.0.1:8001/v1 make run
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

WIRE = Path(__file__).parent / "data" / "openai-wire"
MODEL = "gpt-fake-1"


# --- Scripted steps -------------------------------------------------------------------------------


@dataclass
class Text:
    """Answer with this text, one word per delta."""

    text: str
    first_delay: float = 0.0
    # Cut the stream: after this many deltas, drop the connection or send an error event.
    drop_after: int | None = None
    error_after: int | None = None

    @classmethod
    def of_length(cls, words: int) -> Text:
        """A long answer for benchmarks: `words` words, one delta each."""
        return cls(" ".join(f"word{i}" for i in range(words)))


@dataclass
class ToolCalls:
    calls: list[tuple[str, str]]  # (name, raw arguments)


@dataclass
class Status:
    """Answer the request with an HTTP error (counts once per request, retries included)."""

    code: int
    message: str = "error"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Failed:
    """Responses `response.failed` / Assistants `thread.run.failed`."""

    message: str = "The model failed."


@dataclass
class Incomplete:
    reason: str = "max_output_tokens"
    text: str = "Cut"


@dataclass
class Refusal:
    text: str = "I can't help with that."


@dataclass
class Replay:
    """Send a captured body verbatim (a file under tests/data/openai-wire)."""

    path: str


Step = Text | ToolCalls | Status | Failed | Incomplete | Refusal | Replay


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


# --- The smart default ------------------------------------------------------------------------------

_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")


def smart_step(user_text: str | None, tool_outputs: list[str]) -> Step:
    if tool_outputs:
        sentences = []
        for output in tool_outputs:
            try:
                data = json.loads(output)
            except ValueError:
                data = {"error": output}
            if isinstance(data, dict) and "tax" in data:
                sentences.append(f"The tax on €{data['revenue']} is €{data['tax']}.")
            else:
                error = data.get("error") if isinstance(data, dict) else output
                sentences.append(f"The calculator refused: {error}")
        return Text(" ".join(sentences))
    if user_text:
        match = _NUMBER.search(user_text)
        if match:
            revenue = match.group(0).replace(",", "")
            return ToolCalls([("calculate_tax", json.dumps({"revenue": revenue}))])
        return Text(f"(fake model) You said: {user_text[:200]}")
    return Text("(fake model) Hello.")


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            part.get("text", "") for part in content if isinstance(part, dict) and "text" in part
        )
    return ""


# --- Wire builders ------------------------------------------------------------------------------------


def _sse(data: Any, event: str | None = None) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


@dataclass
class Frame:
    body: bytes
    is_delta: bool = False


class Ids:
    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def __call__(self, prefix: str) -> str:
        return f"{prefix}_{next(self._counter):06d}"


def _words(text: str) -> list[str]:
    return re.findall(r"\S+\s*|\s+", text) or [""]


def responses_frames(step: Step, ids: Ids, body: dict[str, Any]) -> list[Frame]:
    response_id = ids("resp")
    seq = itertools.count()
    base = {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": "in_progress",
        "error": None,
        "incomplete_details": None,
        "model": body.get("model", MODEL),
        "output": [],
        "parallel_tool_calls": True,
        "previous_response_id": body.get("previous_response_id"),
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools", []),
        "usage": None,
        "metadata": {},
    }

    def ev(kind: str, is_delta: bool = False, **fields: Any) -> Frame:
        return Frame(_sse({"type": kind, "sequence_number": next(seq), **fields}, kind), is_delta)

    frames = [ev("response.created", response=base), ev("response.in_progress", response=base)]
    usage = {"input_tokens": 50, "output_tokens": 0, "total_tokens": 50}
    if isinstance(step, ToolCalls):
        items = []
        for index, (name, arguments) in enumerate(step.calls):
            item = {
                "id": ids("fc"),
                "type": "function_call",
                "status": "in_progress",
                "arguments": "",
                "call_id": ids("call"),
                "name": name,
            }
            frames.append(ev("response.output_item.added", output_index=index, item=item))
            frames.append(
                ev(
                    "response.function_call_arguments.delta",
                    item_id=item["id"],
                    output_index=index,
                    delta=arguments,
                )
            )
            frames.append(
                ev(
                    "response.function_call_arguments.done",
                    item_id=item["id"],
                    output_index=index,
                    arguments=arguments,
                )
            )
            done = {**item, "status": "completed", "arguments": arguments}
            frames.append(ev("response.output_item.done", output_index=index, item=done))
            items.append(done)
        usage["output_tokens"] = 10 * len(items)
        final = {**base, "status": "completed", "output": items, "usage": usage}
        frames.append(ev("response.completed", response=final))
        return frames
    if isinstance(step, Failed):
        failed = {
            **base,
            "status": "failed",
            "error": {"code": "server_error", "message": step.message},
        }
        frames.append(ev("response.failed", response=failed))
        return frames
    text = step.text if isinstance(step, Text | Incomplete | Refusal) else ""
    message_id = ids("msg")
    part_type = "refusal" if isinstance(step, Refusal) else "output_text"
    message = {
        "id": message_id,
        "type": "message",
        "status": "in_progress",
        "role": "assistant",
        "content": [],
    }
    frames.append(ev("response.output_item.added", output_index=0, item=message))
    frames.append(
        ev(
            "response.content_part.added",
            item_id=message_id,
            output_index=0,
            content_index=0,
            part={"type": part_type, "text": "", "annotations": []}
            if part_type == "output_text"
            else {"type": "refusal", "refusal": ""},
        )
    )
    for word in _words(text):
        if isinstance(step, Refusal):
            frames.append(
                ev(
                    "response.refusal.delta",
                    True,
                    item_id=message_id,
                    output_index=0,
                    content_index=0,
                    delta=word,
                )
            )
        else:
            frames.append(
                ev(
                    "response.output_text.delta",
                    True,
                    item_id=message_id,
                    output_index=0,
                    content_index=0,
                    delta=word,
                    logprobs=[],
                )
            )
    if isinstance(step, Incomplete):
        incomplete = {**base, "status": "incomplete", "incomplete_details": {"reason": step.reason}}
        frames.append(ev("response.incomplete", response=incomplete))
        return frames
    content = (
        {"type": "refusal", "refusal": text}
        if isinstance(step, Refusal)
        else {"type": "output_text", "text": text, "annotations": []}
    )
    frames.append(
        ev(
            "response.output_item.done",
            output_index=0,
            item={**message, "status": "completed", "content": [content]},
        )
    )
    usage["output_tokens"] = len(_words(text))
    usage["total_tokens"] = 50 + usage["output_tokens"]
    final = {
        **base,
        "status": "completed",
        "output": [{**message, "status": "completed", "content": [content]}],
        "usage": usage,
    }
    frames.append(ev("response.completed", response=final))
    return frames


def chat_frames(step: Step, ids: Ids, body: dict[str, Any]) -> list[Frame]:
    completion_id = ids("chatcmpl")
    model = body.get("model", MODEL)

    def chunk(delta: dict[str, Any], finish: str | None = None, is_delta: bool = False) -> Frame:
        data = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        return Frame(_sse(data), is_delta)

    frames = [chunk({"role": "assistant", "content": None})]
    output_tokens = 0
    if isinstance(step, ToolCalls):
        for index, (name, arguments) in enumerate(step.calls):
            frames.append(
                chunk(
                    {
                        "tool_calls": [
                            {
                                "index": index,
                                "id": ids("call"),
                                "type": "function",
                                "function": {"name": name, "arguments": ""},
                            }
                        ]
                    }
                )
            )
            # Arguments arrive in pieces, as real servers send them.
            middle = len(arguments) // 2
            for piece in (arguments[:middle], arguments[middle:]):
                frames.append(
                    chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
                )
        frames.append(chunk({}, "tool_calls"))
        output_tokens = 10 * len(step.calls)
    else:
        text = step.text if isinstance(step, Text | Incomplete | Refusal) else ""
        key = "refusal" if isinstance(step, Refusal) else "content"
        for word in _words(text):
            frames.append(chunk({key: word}, is_delta=True))
        finish = "length" if isinstance(step, Incomplete) else "stop"
        frames.append(chunk({}, finish))
        output_tokens = len(_words(text))
    if (body.get("stream_options") or {}).get("include_usage"):
        usage = {
            "prompt_tokens": 40,
            "completion_tokens": output_tokens,
            "total_tokens": 40 + output_tokens,
        }
        frames.append(
            Frame(
                _sse(
                    {
                        "id": completion_id,
                        "object": "chat.completion.chunk",
                        "created": int(time.time()),
                        "model": model,
                        "choices": [],
                        "usage": usage,
                    }
                )
            )
        )
    frames.append(Frame(b"data: [DONE]\n\n"))
    return frames


def assistants_frames(step: Step, ids: Ids, run: dict[str, Any]) -> list[Frame]:
    def ev(kind: str, data: dict[str, Any], is_delta: bool = False) -> Frame:
        return Frame(_sse(data, kind), is_delta)

    def run_state(status: str, **extra: Any) -> dict[str, Any]:
        return {**run, "status": status, **extra}

    frames = [
        ev("thread.run.created", run_state("queued")),
        ev("thread.run.queued", run_state("queued")),
        ev("thread.run.in_progress", run_state("in_progress")),
    ]
    if isinstance(step, ToolCalls):
        calls = [
            {
                "id": ids("call"),
                "type": "function",
                "function": {"name": name, "arguments": arguments},
            }
            for name, arguments in step.calls
        ]
        action = {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": calls}}
        run["pending_calls"] = [c["id"] for c in calls]
        frames.append(
            ev("thread.run.requires_action", run_state("requires_action", required_action=action))
        )
    elif isinstance(step, Failed):
        error = {"code": "server_error", "message": step.message}
        frames.append(ev("thread.run.failed", run_state("failed", last_error=error)))
    else:
        text = step.text if isinstance(step, Text | Incomplete | Refusal) else ""
        message_id = ids("msg")
        message = {
            "id": message_id,
            "object": "thread.message",
            "created_at": int(time.time()),
            "assistant_id": run["assistant_id"],
            "thread_id": run["thread_id"],
            "run_id": run["id"],
            "status": "in_progress",
            "role": "assistant",
            "content": [],
            "attachments": [],
            "metadata": {},
        }
        frames.append(ev("thread.message.created", message))
        frames.append(ev("thread.message.in_progress", message))
        for word in _words(text):
            delta = {
                "id": message_id,
                "object": "thread.message.delta",
                "delta": {
                    "content": [
                        {"index": 0, "type": "text", "text": {"value": word, "annotations": []}}
                    ]
                },
            }
            frames.append(ev("thread.message.delta", delta, True))
        content = [{"type": "text", "text": {"value": text, "annotations": []}}]
        frames.append(
            ev("thread.message.completed", {**message, "status": "completed", "content": content})
        )
        if isinstance(step, Incomplete):
            details = {"reason": step.reason}
            frames.append(
                ev("thread.run.incomplete", run_state("incomplete", incomplete_details=details))
            )
        else:
            usage = {
                "prompt_tokens": 45,
                "completion_tokens": len(_words(text)),
                "total_tokens": 45 + len(_words(text)),
            }
            frames.append(ev("thread.run.completed", run_state("completed", usage=usage)))
        run["pending_calls"] = []
    frames.append(Frame(b"event: done\ndata: [DONE]\n\n"))
    return frames


# --- The server -------------------------------------------------------------------------------------


class FakeOpenAI:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, token_delay: float = 0.0) -> None:
        self.token_delay = token_delay
        self.requests: list[Recorded] = []
        self.disconnects = 0
        self.steps: list[Step] = []
        self.ids = Ids()
        self.threads: dict[str, list[dict[str, Any]]] = {}
        self.runs: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def start(self) -> FakeOpenAI:
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.disconnects = 0
            self.steps.clear()
            self.threads.clear()
            self.runs.clear()
            self.token_delay = 0.0

    def script(self, *steps: Step) -> None:
        with self.lock:
            self.steps.extend(steps)

    def next_step(self, default: Step) -> Step:
        with self.lock:
            return self.steps.pop(0) if self.steps else default

    def requests_to(self, suffix: str) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith(suffix)]


class _Handler(BaseHTTPRequestHandler):
    server_fake: FakeOpenAI
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet in tests
        pass

    # --- plumbing ---

    def _body(self) -> Any:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else {}
        except ValueError:
            return {"_raw": raw.decode(errors="replace")}

    def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.send_header("connection", "close")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
        self.close_connection = True

    def _stream(self, frames: list[Frame], step: Step) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True
        fake = self.server_fake
        deltas = 0
        first = True
        try:
            for frame in frames:
                if frame.is_delta:
                    if first and isinstance(step, Text) and step.first_delay:
                        time.sleep(step.first_delay)
                    first = False
                    if (
                        isinstance(step, Text)
                        and step.drop_after is not None
                        and deltas >= step.drop_after
                    ):
                        # Cut the connection without the terminating chunk: a real mid-stream drop.
                        self.wfile.flush()
                        self.connection.shutdown(2)
                        return
                    if (
                        isinstance(step, Text)
                        and step.error_after is not None
                        and deltas >= step.error_after
                    ):
                        self._chunk(
                            _sse(
                                {
                                    "error": {
                                        "message": "The server had an error while processing your request.",
                                        "type": "server_error",
                                        "code": None,
                                    }
                                },
                                "error",
                            )
                        )
                        break
                    deltas += 1
                    if fake.token_delay:
                        time.sleep(fake.token_delay)
                self._chunk(frame.body)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            fake.disconnects += 1  # the client went away mid-stream (Stop)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _replay(self, path: str) -> None:
        body = (WIRE / path).read_bytes()
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("content-length", str(len(body)))
        self.send_header("connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    # --- routing ---

    def do_GET(self) -> None:
        self.server_fake.requests.append(Recorded("GET", self.path, dict(self.headers), None))
        self._json(404, {"error": {"message": "Not found", "type": "invalid_request_error"}})

    def do_POST(self) -> None:
        fake = self.server_fake
        body = self._body()
        fake.requests.append(Recorded("POST", self.path, dict(self.headers), body))
        path = self.path.split("?")[0].rstrip("/")
        if not (self.headers.get("authorization") or "").startswith("Bearer sk-"):
            self._json(
                401,
                {
                    "error": {
                        "message": "Incorrect API key provided.",
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                    }
                },
            )
            return
        if path == "/v1/conversations":
            conversation_id = fake.ids("conv")
            self._json(
                200,
                {
                    "id": conversation_id,
                    "object": "conversation",
                    "created_at": int(time.time()),
                    "metadata": {},
                },
            )
            return
        if re.fullmatch(r"/v1/conversations/[^/]+/items", path):
            self._json(
                200,
                {
                    "object": "list",
                    "data": body.get("items", []),
                    "first_id": None,
                    "last_id": None,
                    "has_more": False,
                },
            )
            return
        if path == "/v1/assistants":
            assistant_id = fake.ids("asst")
            self._json(
                200,
                {
                    "id": assistant_id,
                    "object": "assistant",
                    "created_at": int(time.time()),
                    "model": body.get("model"),
                    "name": body.get("name"),
                    "description": None,
                    "instructions": body.get("instructions"),
                    "tools": body.get("tools", []),
                    "metadata": {},
                    "top_p": 1.0,
                    "temperature": 1.0,
                    "response_format": "auto",
                },
            )
            return
        if path == "/v1/threads":
            thread_id = fake.ids("thread")
            fake.threads[thread_id] = list(body.get("messages") or [])
            self._json(
                200,
                {
                    "id": thread_id,
                    "object": "thread",
                    "created_at": int(time.time()),
                    "metadata": {},
                    "tool_resources": None,
                },
            )
            return
        match = re.fullmatch(r"/v1/threads/([^/]+)/messages", path)
        if match:
            fake.threads.setdefault(match[1], []).append(body)
            self._json(
                200,
                {
                    "id": fake.ids("msg"),
                    "object": "thread.message",
                    "created_at": int(time.time()),
                    "thread_id": match[1],
                    "role": body.get("role", "user"),
                    "content": [
                        {
                            "type": "text",
                            "text": {"value": _text_of(body.get("content")), "annotations": []},
                        }
                    ],
                    "assistant_id": None,
                    "run_id": None,
                    "attachments": [],
                    "metadata": {},
                    "status": "completed",
                    "incomplete_details": None,
                    "completed_at": None,
                    "incomplete_at": None,
                },
            )
            return
        match = re.fullmatch(r"/v1/threads/([^/]+)/runs/([^/]+)/cancel", path)
        if match:
            run = fake.runs.get(match[2], {"id": match[2], "thread_id": match[1]})
            self._json(200, {**run, "status": "cancelling"})
            return
        if path == "/v1/responses":
            self._generate("responses", body)
            return
        if path == "/v1/chat/completions":
            self._generate("chat", body)
            return
        if re.fullmatch(r"/v1/threads/([^/]+)/runs", path) or re.fullmatch(
            r"/v1/threads/([^/]+)/runs/([^/]+)/submit_tool_outputs", path
        ):
            self._generate("assistants", body)
            return
        self._json(
            404, {"error": {"message": f"Unknown path {path}", "type": "invalid_request_error"}}
        )

    def _generate(self, api: str, body: dict[str, Any]) -> None:
        fake = self.server_fake
        user_text, tool_outputs = self._conversation_state(api, body)
        step = fake.next_step(smart_step(user_text, tool_outputs))
        if isinstance(step, ToolCalls) and body.get("tool_choice") == "none":
            step = smart_step(None, tool_outputs)  # as a real model would: no tools when told so
        if isinstance(step, Status):
            headers = dict(step.headers)
            self._json(
                step.code,
                {"error": {"message": step.message, "type": "api_error", "code": None}},
                headers,
            )
            return
        if isinstance(step, Replay):
            self._replay(step.path)
            return
        if api == "responses":
            frames = responses_frames(step, fake.ids, body)
        elif api == "chat":
            frames = chat_frames(step, fake.ids, body)
        else:
            frames = assistants_frames(step, fake.ids, self._run_for(body))
        self._stream(frames, step)

    def _run_for(self, body: dict[str, Any]) -> dict[str, Any]:
        fake = self.server_fake
        match = re.fullmatch(
            r"/v1/threads/([^/]+)/runs(?:/([^/]+)/submit_tool_outputs)?", self.path.split("?")[0]
        )
        assert match is not None
        thread_id, run_id = match[1], match[2]
        if run_id and run_id in fake.runs:
            return fake.runs[run_id]
        run = {
            "id": fake.ids("run"),
            "object": "thread.run",
            "created_at": int(time.time()),
            "assistant_id": body.get("assistant_id", "asst_unknown"),
            "thread_id": thread_id,
            "status": "queued",
            "required_action": None,
            "last_error": None,
            "model": MODEL,
            "instructions": "",
            "tools": [],
            "metadata": {},
            "usage": None,
            "incomplete_details": None,
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "response_format": "auto",
            "truncation_strategy": {"type": "auto", "last_messages": None},
        }
        fake.runs[run["id"]] = run
        return run

    def _conversation_state(self, api: str, body: dict[str, Any]) -> tuple[str | None, list[str]]:
        """The latest user text and any tool outputs this request answers with."""
        if api == "responses":
            items = body.get("input")
            if isinstance(items, str):
                return items, []
            items = items or []
            outputs = [
                str(i.get("output", ""))
                for i in items
                if isinstance(i, dict) and i.get("type") == "function_call_output"
            ]
            trailing: list[str] = []
            for item in reversed(items):
                if isinstance(item, dict) and item.get("type") == "function_call_output":
                    trailing.insert(0, str(item.get("output", "")))
                else:
                    break
            users = [
                _text_of(i.get("content"))
                for i in items
                if isinstance(i, dict) and i.get("role") == "user"
            ]
            return (users[-1] if users else None), (trailing or ([] if users else outputs))
        if api == "chat":
            messages = body.get("messages") or []
            trailing = []
            for message in reversed(messages):
                if message.get("role") == "tool":
                    trailing.insert(0, str(message.get("content", "")))
                else:
                    break
            users = [_text_of(m.get("content")) for m in messages if m.get("role") == "user"]
            return (users[-1] if users else None), trailing
        if "tool_outputs" in body:
            return None, [str(o.get("output", "")) for o in body["tool_outputs"]]
        match = re.fullmatch(r"/v1/threads/([^/]+)/runs", self.path.split("?")[0])
        messages = self.server_fake.threads.get(match[1] if match else "", [])
        users = [_text_of(m.get("content")) for m in messages if m.get("role") == "user"]
        return (users[-1] if users else None), []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--token-delay", type=float, default=0.03, help="seconds between deltas")
    args = parser.parse_args()
    fake = FakeOpenAI(args.host, args.port, token_delay=args.token_delay)
    print(f"Fake OpenAI on {fake.base_url} (any key starting with sk- is accepted)", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        fake.httpd.serve_forever()


if __name__ == "__main__":
    main()
