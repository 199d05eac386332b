"""The cyclic collector run once per batch of a one-off run (ADRs 111, 112)."""

from __future__ import annotations

import gc

import pytest

from projections.collector import PerBatch


def test_a_run_collecting_per_batch_turns_the_collector_off_then_gives_it_back() -> None:
    assert gc.isenabled() and gc.get_freeze_count() == 0
    with PerBatch(True) as collector:
        assert not gc.isenabled()
        kept = [[n] for n in range(100)]  # objects alive after the batch
        collector.after_batch()
        assert gc.get_freeze_count() >= len(kept)  # moved out of the collector's reach
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_a_batch_s_cyclic_garbage_is_collected_once_the_batch_ends() -> None:
    class Node:
        pass

    with PerBatch(True) as collector:
        before = gc.get_count()[0]
        for _ in range(50):  # cycles, garbage once made
            a, b = Node(), Node()
            a.other, b.other = b, a
        del a, b
        assert gc.get_count()[0] > before  # the collector did not run by itself meanwhile
        collector.after_batch()
        assert not [o for o in gc.get_objects() if type(o) is Node]


def test_a_run_that_fails_still_gives_the_collector_back() -> None:
    with pytest.raises(ValueError), PerBatch(True) as collector:
        collector.after_batch()
        raise ValueError("a batch failed")
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_a_run_not_collecting_per_batch_leaves_the_collector_alone() -> None:
    with PerBatch(False) as collector:
        assert gc.isenabled()
        collector.after_batch()
        assert gc.get_freeze_count() == 0
    assert gc.isenabled()


def test_a_collector_already_off_stays_off() -> None:
    gc.disable()
    try:
        with PerBatch(True) as collector:
            collector.after_batch()
        assert not gc.isenabled() and gc.get_freeze_count() == 0
    finally:
        gc.enable()
