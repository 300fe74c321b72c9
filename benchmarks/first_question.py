"""How long a fresh process's first provider request takes, with and without the engine prepared.

    .venv/bin/python benchmarks/first_question.py [--rounds 3]

Everything a process does at its first question it does on the event loop, while every socket of
the process waits. Each round starts two fresh interpreters (Chat Completions engine, the fake
upstream benchmarks/upstream.py), one that calls `chat.engines.prepare_default_engine()` first,
as taxsite/asgi.py does before daphne serves, and one that does not; each sends two requests the
way the engine does (`stream_post`, to the first body bytes). The second request of a process is
the baseline: what a request costs once everything is loaded. Prints medians, in ms.
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from upstream import question, running  # noqa: E402


def child(prepare: bool, upstream: str) -> None:
    """One fresh process: prints the preparation's time and each request's, in ms."""
    sys.path.insert(0, str(ROOT))
    os.environ |= {
        "DJANGO_SETTINGS_MODULE": "taxsite.settings",
        "DEBUG": "1",
        "ASSISTANT_ENGINE": "chat",
        "OPENAI_API_KEY": "bench",
        "OPENAI_BASE_URL": upstream,
    }
    import django

    django.setup()
    from chat.engines import prepare_default_engine
    from chat.engines.client import openai_client, stream_post

    started = time.perf_counter()
    if prepare:
        prepare_default_engine()
    times = [(time.perf_counter() - started) * 1000]

    async def requests() -> None:
        for _ in range(2):
            started = time.perf_counter()
            body = {"model": "bench", "messages": [{"role": "user", "content": question(3, 100)}]}
            stream = await stream_post("/chat/completions", body)
            async for _chunk in stream.response.aiter_bytes():
                break
            await stream.close()
            times.append((time.perf_counter() - started) * 1000)
        await openai_client().close()

    asyncio.run(requests())
    print(" ".join(f"{t:.1f}" for t in times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", choices=["prepared", "unprepared"], help=argparse.SUPPRESS)
    parser.add_argument("--upstream", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        child(options.child == "prepared", options.upstream)
        return
    results: dict[str, list[list[float]]] = {"unprepared": [], "prepared": []}
    with running() as url:
        for _ in range(options.rounds):
            for mode in results:
                out = subprocess.run(  # noqa: S603 - this script again, as a child
                    [sys.executable, __file__, "--child", mode, "--upstream", url],
                    capture_output=True,
                    text=True,
                    check=True,
                    timeout=120,
                )
                results[mode].append([float(t) for t in out.stdout.split()])
    print(f"medians of {options.rounds} fresh processes each, ms:\n")
    print("| process | preparing, before serving | first request | second request |")
    print("|---|---|---|---|")
    for mode, runs in results.items():
        cells = [statistics.median(run[i] for run in runs) for i in range(3)]
        print(f"| {mode} | {cells[0]:.0f} | {cells[1]:.1f} | {cells[2]:.1f} |")


if __name__ == "__main__":
    main()
