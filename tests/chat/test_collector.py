"""The garbage collector held off for a burst comes back on by itself, whatever the loops do."""

import gc
import time
from collections.abc import Iterator

import pytest

from chat.collector import collector_held, hold_collector


@pytest.fixture(autouse=True)
def collector_back_on() -> Iterator[None]:
    yield
    while collector_held():
        time.sleep(0.01)
    gc.enable()


def test_a_hold_turns_the_collector_off_and_back_on_after_its_time() -> None:
    hold_collector(0.3)
    assert not gc.isenabled()
    time.sleep(0.15)
    hold_collector(0.3)  # bursts one after another do not keep it off for good
    assert not gc.isenabled()
    time.sleep(0.2)  # past the first hold's end, before a second one's
    assert gc.isenabled()
    assert not collector_held()


def test_a_collector_someone_else_turned_off_stays_off() -> None:
    gc.disable()
    hold_collector(0.05)
    assert not collector_held()
    time.sleep(0.1)
    assert not gc.isenabled()


def test_no_hold_when_the_setting_is_zero() -> None:
    hold_collector(0)
    assert gc.isenabled()
    assert not collector_held()
