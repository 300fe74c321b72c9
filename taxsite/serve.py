"""`python -m taxsite.serve [daphne's options] taxsite.asgi:application`: daphne on uvloop.

Daphne runs Twisted on an asyncio loop it creates when `daphne.server` is imported, before it
loads the application: the loop is chosen here, first. On uvloop's loop the sockets, the
provider requests and the timers of a busy process cost less CPU than on asyncio's default
one: with 200 questions asked at once, the last first words came ~12 % sooner and every
answer's frames cost ~5 % less CPU (benchmarks/streaming.py, README "Streaming at scale").

Plain `daphne taxsite.asgi:application` still serves everything, on asyncio's default loop.
"""

import asyncio


def use_uvloop() -> bool:
    """Make new event loops uvloop's (before daphne is imported); False where uvloop is not
    installed (it has no Windows build)."""
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


def main() -> None:
    use_uvloop()
    from daphne.cli import CommandLineInterface

    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
