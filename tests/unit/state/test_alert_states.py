"""The worker's alert memory: bounded, one due entry per store, popped once."""

from __future__ import annotations

from streams.core.alerts import DOWN, Alert, AlertState
from streams.state.alerts import AlertStates, Due


def test_states_are_an_lru_that_counts_the_stores_down() -> None:
    states = AlertStates(limit=2)
    states.put(b"a", AlertState(10, 10, False, None))
    states.put(b"b", AlertState(10, 10, True, None))
    assert states.down == 1
    states.get(b"a")  # a is used: b goes first
    states.set_due(b"b", Due(50, 10, None))
    states.put(b"c", AlertState(10, 10, False, 4))
    assert states.get(b"b") is None
    assert states.due_of(b"b") is None  # evicted with its store
    assert states.down == 2
    states.put(b"a", AlertState(20, 20, True, None))  # a is up again
    assert states.down == 1
    states.forget({0}, lambda store: 0 if store == b"a" else 1)
    assert len(states) == 1
    assert states.down == 0


def test_one_due_entry_per_store_popped_once_and_the_heap_stays_bounded() -> None:
    states = AlertStates(limit=10)
    held = Alert(DOWN, 5, 8)
    for i in range(5_000):  # a poll a second: the entry moves on each time
        states.set_due(b"s", Due(100 + i, i, None))
    states.set_due(b"t", Due(150, 3, held))
    assert len(states._heap) < 2 * 2 + 1024 + 1
    assert states.pop_due(149) == []  # s's entry is for 5,099 now
    assert states.pop_due(200) == [(b"t", Due(150, 3, held))]
    assert states.pop_due(200) == []
    assert states.pop_due(10_000) == [(b"s", Due(5_099, 4_999, None))]
