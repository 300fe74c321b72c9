"""The fake server: a real HTTP server on 127.0.0.1 speaking OpenAI's wire formats."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fake_openai.assistants import assistants_frames
from tests.fake_openai.captures import load_capture
from tests.fake_openai.chat import chat_frames
from tests.fake_openai.responses import responses_frames
from tests.fake_openai.sse import Frame, Ids, sse
from tests.fake_openai.steps import (
    MODEL,
    WIRE,
    Capture,
    Raw,
    Recorded,
    Replay,
    Status,
    Step,
    Text,
    ToolCalls,
    smart_step,
    text_of,
)


class FakeOpenAI:
    """The fake server. `capture`: serve this recorded capture's responses, in turn, to every
    generation request (when no step is scripted), whatever was asked."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        token_delay: float = 0.0,
        capture: str | None = None,
    ) -> None:
        self.token_delay = token_delay
        self.capture = capture
        self.capture_served = 0
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
            if self.steps:
                return self.steps.pop(0)
            if self.capture:
                replies = len(load_capture(self.capture))
                step = Capture(self.capture, self.capture_served % replies)
                self.capture_served += 1
                return step
            return default

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
                if frame.paced and fake.token_delay:
                    time.sleep(fake.token_delay)
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
                            sse(
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
                    if isinstance(step, Text) and step.stall_after == deltas:
                        time.sleep(step.stall_seconds)
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
        self._raw(Raw((WIRE / path).read_bytes(), framing="length"))

    def _capture(self, step: Capture) -> None:
        reply = load_capture(step.path)[step.response]
        content_type = reply.content_type or "text/event-stream"
        self._raw(Raw(reply.body, content_type, framing="length", status=reply.status))

    def _raw(self, step: Raw) -> None:
        """Exactly these bytes, framed as the step asks (or cut before the end)."""
        self.send_response(step.status)
        self.send_header("content-type", step.content_type)
        if step.framing == "length":
            self.send_header("content-length", str(len(step.body) + (1 if step.cut else 0)))
        elif step.framing == "chunked":
            self.send_header("transfer-encoding", "chunked")
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            if step.framing == "chunked":
                if step.body:
                    self._chunk(step.body)
                if not step.cut:
                    self.wfile.write(b"0\r\n\r\n")
            else:
                self.wfile.write(step.body)
            self.wfile.flush()
            if step.cut or step.framing == "close":
                self.connection.shutdown(socket.SHUT_RDWR)
        except (BrokenPipeError, ConnectionResetError):
            self.server_fake.disconnects += 1

    # --- routing: (method, path pattern) -> handler ---

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
        for pattern, handler in ROUTES:
            match = re.fullmatch(pattern, path)
            if match:
                handler(self, body, *match.groups())
                return
        self._json(
            404, {"error": {"message": f"Unknown path {path}", "type": "invalid_request_error"}}
        )

    def _new_conversation(self, body: dict[str, Any]) -> None:
        self._json(
            200,
            {
                "id": self.server_fake.ids("conv"),
                "object": "conversation",
                "created_at": int(time.time()),
                "metadata": {},
            },
        )

    def _conversation_items(self, body: dict[str, Any], conversation_id: str) -> None:
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

    def _new_assistant(self, body: dict[str, Any]) -> None:
        self._json(
            200,
            {
                "id": self.server_fake.ids("asst"),
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

    def _new_thread(self, body: dict[str, Any]) -> None:
        thread_id = self.server_fake.ids("thread")
        self.server_fake.threads[thread_id] = list(body.get("messages") or [])
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

    def _thread_message(self, body: dict[str, Any], thread_id: str) -> None:
        self.server_fake.threads.setdefault(thread_id, []).append(body)
        self._json(
            200,
            {
                "id": self.server_fake.ids("msg"),
                "object": "thread.message",
                "created_at": int(time.time()),
                "thread_id": thread_id,
                "role": body.get("role", "user"),
                "content": [
                    {
                        "type": "text",
                        "text": {"value": text_of(body.get("content")), "annotations": []},
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

    def _cancel_run(self, body: dict[str, Any], thread_id: str, run_id: str) -> None:
        run = self.server_fake.runs.get(run_id, {"id": run_id, "thread_id": thread_id})
        self._json(200, {**run, "status": "cancelling"})

    def _responses(self, body: dict[str, Any]) -> None:
        self._generate("responses", body)

    def _chat(self, body: dict[str, Any]) -> None:
        self._generate("chat", body)

    def _run(self, body: dict[str, Any], *ids: str | None) -> None:
        self._generate("assistants", body)

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
        if isinstance(step, Capture):
            self._capture(step)
            return
        if isinstance(step, Raw):
            self._raw(step)
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
                text_of(i.get("content"))
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
            users = [text_of(m.get("content")) for m in messages if m.get("role") == "user"]
            return (users[-1] if users else None), trailing
        if "tool_outputs" in body:
            return None, [str(o.get("output", "")) for o in body["tool_outputs"]]
        match = re.fullmatch(r"/v1/threads/([^/]+)/runs", self.path.split("?")[0])
        messages = self.server_fake.threads.get(match[1] if match else "", [])
        users = [text_of(m.get("content")) for m in messages if m.get("role") == "user"]
        return (users[-1] if users else None), []


ROUTES: list[tuple[str, Callable[..., None]]] = [
    (r"/v1/conversations", _Handler._new_conversation),
    (r"/v1/conversations/([^/]+)/items", _Handler._conversation_items),
    (r"/v1/assistants", _Handler._new_assistant),
    (r"/v1/threads", _Handler._new_thread),
    (r"/v1/threads/([^/]+)/messages", _Handler._thread_message),
    (r"/v1/threads/([^/]+)/runs/([^/]+)/cancel", _Handler._cancel_run),
    (r"/v1/responses", _Handler._responses),
    (r"/v1/chat/completions", _Handler._chat),
    (r"/v1/threads/([^/]+)/runs", _Handler._run),
    (r"/v1/threads/([^/]+)/runs/([^/]+)/submit_tool_outputs", _Handler._run),
]
