"""A cancel must never be swallowed by an `except Exception`, whatever a library turned it into.

redis-py turns a cancel that arrives during one of its reads into TimeoutError: a Stop (a
cancelled turn task) caught by a broad handler on the way would be lost, and the answer would
run to its end.
"""

import asyncio


def raise_if_cancelling() -> None:
    """In an `except Exception:` block: re-raise the cancel this task is undergoing, if any."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
