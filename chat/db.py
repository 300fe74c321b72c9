"""A typed `database_sync_to_async`: ORM work from async code, on Channels' database thread."""

from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar, cast

from channels.db import database_sync_to_async

P = ParamSpec("P")
R = TypeVar("R")


def db_async(func: Callable[P, R]) -> Callable[P, Coroutine[Any, Any, R]]:
    return cast(Callable[P, Coroutine[Any, Any, R]], database_sync_to_async(func))
