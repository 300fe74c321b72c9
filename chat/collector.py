"""The cyclic garbage collector held off while a burst of questions starts.

When 200 questions come at once, every first word waits for all 200 starts (one interpreter:
`benchmarks/start_cost.py`), and the collector's ~30 passes over the objects those starts make
fell inside that wait: held off for the burst, the last first words came 30-40 ms sooner (of
~350; `benchmarks/streaming.py`, interleaved). Nearly every object is freed by reference
counting anyway; the cycles are collected when the hold ends (one pass of ~10 ms, while the
answers stream).
"""

import gc
import threading

_lock = threading.Lock()
_release: threading.Timer | None = None


def hold_collector(seconds: float) -> None:
    """No automatic collection for `seconds` from now. A hold under way is not extended, so
    under bursts that never stop the collector still runs once a hold's length. Nothing if the
    collector was already off (someone else's choice) or `seconds` is 0."""
    global _release
    if seconds <= 0:
        return
    with _lock:
        if _release is not None or not gc.isenabled():
            return
        gc.disable()
        # A timer thread, not the event loop: a closed loop must never leave the collector off.
        _release = threading.Timer(seconds, _resume)
        _release.daemon = True
        _release.start()


def _resume() -> None:
    global _release
    with _lock:
        _release = None
        gc.enable()  # the next allocation sets off the passes that were held


def collector_held() -> bool:
    with _lock:
        return _release is not None
