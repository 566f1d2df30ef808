"""The shared-memory flag table: layout, who writes what, and cleanup."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from ipc import (
    SLOT_SIZE,
    CancelReason,
    FlagTable,
    SegmentError,
    SlotStruct,
    is_stale,
    list_segments,
    sweep_stale,
)


@pytest.fixture
def table():
    t = FlagTable.create(8)
    yield t
    t.close()
    t.unlink()


def test_segment_is_named_and_listed_then_gone_after_unlink() -> None:
    t = FlagTable.create(4)
    assert t.name.startswith("sazinka-")
    assert t.name in list_segments()
    t.close()
    t.unlink()
    assert t.name not in list_segments()


def test_a_slot_is_32_bytes() -> None:
    assert SLOT_SIZE == 32


def test_new_slot_is_not_cancelled(table: FlagTable) -> None:
    gen = table.arm(3)
    view = table.view(3, SlotStruct)
    assert not view.cancelled
    assert view.generation == gen
    del view


def test_cancel_is_seen_by_an_attached_view(table: FlagTable) -> None:
    table.arm(2)
    worker_side = FlagTable.attach(table.name)
    view = worker_side.view(2, SlotStruct)
    assert not view.cancelled
    table.request_cancel(2, CancelReason.REQUESTED)
    assert view.cancelled == CancelReason.REQUESTED
    del view
    worker_side.close()


def test_cancel_flag_is_per_slot(table: FlagTable) -> None:
    for s in range(8):
        table.arm(s)
    table.request_cancel(5, CancelReason.REQUESTED)
    assert [table.cancel_reason(s) for s in range(8)] == [CancelReason.NONE] * 5 + [
        CancelReason.REQUESTED
    ] + [CancelReason.NONE] * 2


def test_user_cancel_is_never_downgraded_to_shutdown(table: FlagTable) -> None:
    table.arm(0)
    table.request_cancel(0, CancelReason.REQUESTED)
    assert table.request_cancel(0, CancelReason.SHUTDOWN) is CancelReason.REQUESTED
    assert table.cancel_reason(0) is CancelReason.REQUESTED


def test_shutdown_can_be_upgraded_to_user_cancel(table: FlagTable) -> None:
    table.arm(0)
    table.request_cancel(0, CancelReason.SHUTDOWN)
    table.request_cancel(0, CancelReason.REQUESTED)
    assert table.cancel_reason(0) is CancelReason.REQUESTED


def test_arm_clears_flag_and_progress_and_moves_generation(table: FlagTable) -> None:
    g1 = table.arm(1)
    view = table.view(1, SlotStruct)
    view.write_progress(10, 20)
    table.request_cancel(1, CancelReason.REQUESTED)
    g2 = table.arm(1)
    assert g2 == g1 + 1
    assert table.cancel_reason(1) is CancelReason.NONE
    assert table.sample(1) == (0, 0, 0)
    del view


def test_progress_sample_moves_only_on_writes(table: FlagTable) -> None:
    table.arm(4)
    view = table.view(4, SlotStruct)
    seq0, _, _ = table.sample(4)
    assert table.sample(4)[0] == seq0
    view.write_progress(150, 1000)
    seq1, processed, total = table.sample(4)
    assert (processed, total) == (150, 1000)
    assert seq1 > seq0 and seq1 % 2 == 0
    del view


def test_slot_out_of_range(table: FlagTable) -> None:
    with pytest.raises(IndexError):
        table.arm(8)


def test_attach_refuses_missing_and_foreign_names() -> None:
    with pytest.raises(SegmentError):
        FlagTable.attach("sazinka-1-deadbeef")
    with pytest.raises(SegmentError):
        FlagTable.attach("../etc/passwd")


def _segment_of_a_killed_process() -> str:
    code = textwrap.dedent(
        """
        import os, signal, sys
        from ipc import FlagTable
        t = FlagTable.create(2)
        print(t.name, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == -signal.SIGKILL
    return out.stdout.strip()


def test_segment_of_a_dead_creator_is_stale_and_swept() -> None:
    name = _segment_of_a_killed_process()
    assert name in list_segments()
    assert is_stale(name)
    removed = sweep_stale(is_stale)
    assert name in removed
    assert name not in list_segments()


def test_live_segment_is_not_stale(table: FlagTable) -> None:
    assert not is_stale(table.name)
    assert table.name not in sweep_stale(is_stale)


def test_a_pid_that_is_alive_but_recycled_makes_the_segment_stale(table: FlagTable) -> None:
    # Same pid as ours, but the header says the creator started at another time.
    import struct

    struct.pack_into("=d", table.raw, 24, 1.0)
    assert is_stale(table.name)
    assert os.getpid() == int(table.name.split("-")[1])
