"""CPU work of a few milliseconds, moved off the event loop.

An answer's end (the grounding check, the final bubble in each reader's language) costs 3-10 ms
of pure Python. On the loop, answers that end together held everyone else's frames that long
(another person's p95 round trip went from 2 ms to 10-18 ms while five answers streamed,
`benchmarks/abuse.py`). On one worker thread the loop takes the interpreter back within
SERVER_GIL_SWITCH_SECONDS whenever it has a frame to answer.

What runs here must not touch the ORM (`rendering_for_the_loop()` tells templates so): it is
the loop's work, done elsewhere, on objects the loop already loaded.
"""

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

# One thread: the work is CPU-bound under one interpreter lock, more threads would only queue.
_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="off-loop")
_for_the_loop: contextvars.ContextVar[bool] = contextvars.ContextVar("for_the_loop", default=False)


async def off_loop(func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """`func(*args, **kwargs)` on the worker thread, in a copy of this context (the language
    override included)."""
    context = contextvars.copy_context()
    call = functools.partial(context.run, _run_for_the_loop, func, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_worker, call)


def _run_for_the_loop(func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    _for_the_loop.set(True)
    return func(*args, **kwargs)


def rendering_for_the_loop() -> bool:
    """True inside the event loop or in work moved off it: no ORM query may run here."""
    if _for_the_loop.get():
        return True
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
