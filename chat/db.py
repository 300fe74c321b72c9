"""ORM work from async code: on Channels' one database thread (`db_async`), or, for the small
reads a socket needs before it can answer a frame, on a thread of their own (`db_async_apart`).
"""

import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar, cast

from channels.db import DatabaseSyncToAsync, database_sync_to_async
from django.db import connections

P = ParamSpec("P")
R = TypeVar("R")


def db_async(func: Callable[P, R]) -> Callable[P, Coroutine[Any, Any, R]]:
    return cast(Callable[P, Coroutine[Any, Any, R]], database_sync_to_async(func))


# Two threads, so two more database connections per process at most.
APART_THREADS = 2
_apart = ThreadPoolExecutor(max_workers=APART_THREADS, thread_name_prefix="db-apart")


def db_async_apart(func: Callable[P, R]) -> Callable[P, Coroutine[Any, Any, R]]:
    """For a read that must not wait behind the turns' writes on the shared database thread
    (a socket's session re-check: someone's frame waits for it)."""
    return cast(
        Callable[P, Coroutine[Any, Any, R]],
        DatabaseSyncToAsync(func, thread_sensitive=False, executor=_apart),
    )


def close_apart_connections() -> None:
    """Close the connections the apart threads hold (before a database is dropped: the test
    suite's end). Each thread takes one of the closes: they wait for each other."""
    together = threading.Barrier(APART_THREADS)

    def close() -> None:
        together.wait(timeout=10)
        connections.close_all()

    for done in [_apart.submit(close) for _ in range(APART_THREADS)]:
        done.result(timeout=15)
