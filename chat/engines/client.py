"""The AsyncOpenAI client: built lazily, once per process (and event loop), from settings."""

import asyncio
import functools
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from django.conf import settings

if TYPE_CHECKING:
    import ssl

    from openai import AsyncOpenAI, AsyncStream

_clients: dict[tuple[object, ...], "AsyncOpenAI"] = {}

# The SDK describes our machine to the provider on every request (OS, architecture, Python,
# retry count, timeout). The provider needs none of it, and with 200 requests begun at once
# building these headers was 10 % of the SDK's work (0.48 -> 0.43 ms a request).
SDK_TELEMETRY_HEADERS = (
    "X-Stainless-Lang",
    "X-Stainless-Package-Version",
    "X-Stainless-OS",
    "X-Stainless-Arch",
    "X-Stainless-Runtime",
    "X-Stainless-Runtime-Version",
    "X-Stainless-Async",
)
_PER_REQUEST_TELEMETRY = ("X-Stainless-Retry-Count", "X-Stainless-Read-Timeout")


def openai_client() -> "AsyncOpenAI":
    # Imported on first use: importing an engine class (for its label) must not load the SDK.
    import httpx2
    from openai import AsyncOpenAI, DefaultAioHttpClient

    # Keyed by the running loop too: an httpx pool belongs to the loop that opened it
    # (one loop under daphne; a fresh one per `manage.py ask` or test).
    key = (
        settings.OPENAI_API_KEY,
        settings.OPENAI_BASE_URL,
        settings.OPENAI_TIMEOUT,
        settings.OPENAI_MAX_RETRIES,
        id(asyncio.get_running_loop()),
    )
    client = _clients.get(key)
    if client is None:
        _clients.clear()
        # Explicit: the SDK's default is 600 s, far too long for a person waiting.
        timeout = httpx2.Timeout(
            settings.OPENAI_TIMEOUT, connect=min(10.0, settings.OPENAI_TIMEOUT)
        )
        client = AsyncOpenAI(
            api_key=settings.OPENAI_API_KEY or "unset",
            base_url=settings.OPENAI_BASE_URL or None,
            timeout=timeout,
            max_retries=settings.OPENAI_MAX_RETRIES,
            # The SDK's aiohttp transport (the `aiohttp` extra): reading hundreds of streams at
            # once cost a third of the CPU through the default one (httpcore2 on anyio).
            http_client=DefaultAioHttpClient(timeout=timeout, verify=_tls_context()),
            default_headers=_without(SDK_TELEMETRY_HEADERS),
        )
        _clients[key] = client
    return client


async def close_openai_client() -> None:
    """Close the running loop's client and forget it, for a loop that ends after its answer
    (`manage.py ask`): left open, its connections are reported unclosed at exit."""
    loop_id = id(asyncio.get_running_loop())
    for key, client in list(_clients.items()):
        if key[-1] == loop_id:
            del _clients[key]
            await client.close()


@functools.cache
def _without(headers: tuple[str, ...]) -> Mapping[str, Any]:
    """Headers the SDK must not send: `Omit()` removes a default one (`openai._types.Headers`;
    the client's `default_headers` is annotated `str` only, but merged the same way). Built
    once, not per request; read-only, as the SDK only reads (and copies) what it is given."""
    from openai import Omit

    return MappingProxyType(dict.fromkeys(headers, Omit()))


@functools.cache
def _tls_context() -> "ssl.SSLContext":
    """The provider connections' TLS settings, as the SDK's transport builds them by default
    (certifi's CA bundle, or SSL_CERT_FILE / SSL_CERT_DIR): loading the bundle is 20-60 ms, done
    once per process, not once per client."""
    import httpx2

    return httpx2.create_ssl_context()


def load_sdk() -> None:
    """Import the SDK and load the CA bundle now. A server calls this before it serves: left to
    the first question, the import (~450 ms) and the bundle held every socket of the process
    (`benchmarks/first_question.py`)."""
    from openai import AsyncOpenAI, AsyncStream, DefaultAioHttpClient  # noqa: F401

    _tls_context()


async def stream_post(path: str, body: dict[str, Any]) -> "AsyncStream[Any]":
    """POST a streaming request whose body we built in wire form, through the client (its
    auth, retries, timeouts and error classes), read raw by `WireStream`.

    The typed `create` methods first walk the whole body against the SDK's TypedDicts, which
    our bodies do not need (no aliases, files or dates): 0.36 ms a request, a fifth of a
    turn's start when 200 people ask at once (`benchmarks/streaming.py`)."""
    from openai import AsyncStream

    return await openai_client().post(
        path,
        cast_to=object,
        body={**body, "stream": True},
        options={
            "security": {"bearer_auth": True},
            "headers": _without(_PER_REQUEST_TELEMETRY),
        },
        stream=True,
        stream_cls=AsyncStream[Any],
    )


class OpenAIEngine:
    """What the engines that speak an OpenAI API share: the configured model, and the SDK
    loaded before a server serves."""

    prepare = staticmethod(load_sdk)

    @property
    def model_name(self) -> str:
        return str(settings.OPENAI_MODEL)
