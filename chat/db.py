"""ORM work from async code, on a pool of threads sized for concurrent answers.

Channels' `database_sync_to_async` runs every call on one thread per process: at a few hundred
concurrent answers, turn starts, checkpoints and finishes queue behind each other there. Our calls
are each self-contained (no transaction spans two of them), so they run on a pool of
CHAT_DB_THREADS threads, each with its own persistent connection. SQLite takes one writer at a
time anyway: there every call stays on Channels' one database thread, as before.
"""

from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from functools import cache, wraps
from typing import Any, ParamSpec, TypeVar

from channels.db import DatabaseSyncToAsync
from django.conf import settings
from django.db import connection

P = ParamSpec("P")
R = TypeVar("R")


@cache
def _pool() -> ThreadPoolExecutor | None:
    if connection.vendor == "sqlite":
        return None
    return ThreadPoolExecutor(
        max_workers=max(1, settings.CHAT_DB_THREADS), thread_name_prefix="orm"
    )


def db_async(func: Callable[P, R]) -> Callable[P, Coroutine[Any, Any, R]]:
    @wraps(func)
    async def call(*args: P.args, **kwargs: P.kwargs) -> R:
        pool = _pool()
        run: Any = (
            DatabaseSyncToAsync(func)
            if pool is None
            else DatabaseSyncToAsync(func, thread_sensitive=False, executor=pool)
        )
        result: R = await run(*args, **kwargs)
        return result

    return call
