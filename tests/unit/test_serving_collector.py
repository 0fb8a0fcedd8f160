"""The serving process's collector policy: survivors are frozen out of every collection, and
cyclic garbage among them is still reclaimed by the periodic full collection."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from rps.api.collector import GC_THRESHOLDS, ServingCollector


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the cycle collector can free it


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def _restore_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def _tracked(obj: object) -> bool:
    """Whether a collection that is not a full one over frozen objects would walk ``obj``."""
    return any(o is obj for o in gc.get_objects())


def test_start_sets_the_thresholds_and_freezes_what_start_up_made() -> None:
    kept = [object()]
    assert _tracked(kept)
    ServingCollector(clock=_Clock()).start()
    assert gc.get_threshold() == GC_THRESHOLDS
    assert not _tracked(kept)
    assert gc.get_freeze_count() > 0


def test_a_tick_moves_survivors_out_of_the_collectors_way() -> None:
    clock = _Clock()
    collector = ServingCollector(clock=clock, full_every=60)
    game_state = [[1, 2, 3], {"round": 4}]
    assert _tracked(game_state)
    clock.now += 1
    collector.tick()
    assert not _tracked(game_state)
    assert game_state == [[1, 2, 3], {"round": 4}]  # still alive and usable
    fresh = [object()]
    assert _tracked(fresh)  # made after the freeze: young again


def test_frozen_cycles_wait_for_the_full_collection_and_are_freed_by_it() -> None:
    clock = _Clock()
    collector = ServingCollector(clock=clock, full_every=60)
    node = _Node()
    alive = weakref.ref(node)
    clock.now += 1
    collector.tick()
    del node
    gc.collect()
    assert alive() is not None  # frozen: no ordinary collection sees it
    clock.now += 30
    collector.tick()
    assert alive() is not None  # not due yet
    clock.now += 30
    collector.tick()  # 60 s since the last full collection
    assert alive() is None


def test_a_full_collection_reports_what_it_freed(caplog: pytest.LogCaptureFixture) -> None:
    collector = ServingCollector(clock=_Clock())
    node = _Node()
    alive = weakref.ref(node)
    gc.freeze()
    del node
    with caplog.at_level("INFO", logger="rps.api.collector"):
        found = collector.collect_all()
    assert alive() is None
    assert found >= 1
    assert "full garbage collection" in caplog.text
