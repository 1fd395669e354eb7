"""The order state machine and deterministic client order ids."""

from __future__ import annotations

import itertools

from yquant.domain.model import (
    FINAL_STATUSES,
    STATUS_RANK,
    OrderStatus,
    can_transition,
    client_order_id,
)


def test_happy_path_is_allowed() -> None:
    path = [
        OrderStatus.NEW,
        OrderStatus.SUBMITTED,
        OrderStatus.ACCEPTED,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.FILLED,
    ]
    assert all(can_transition(a, b) for a, b in itertools.pairwise(path))


def test_final_states_are_never_left() -> None:
    for final in FINAL_STATUSES:
        for other in OrderStatus:
            assert can_transition(final, other) == (other == final)


def test_a_timeout_leads_to_unknown_which_only_the_broker_resolves() -> None:
    assert can_transition(OrderStatus.SUBMITTED, OrderStatus.UNKNOWN)
    assert can_transition(OrderStatus.UNKNOWN, OrderStatus.FILLED)
    assert not can_transition(OrderStatus.NEW, OrderStatus.FILLED)


def test_ranks_only_grow_along_allowed_transitions_except_back_to_new() -> None:
    for a in OrderStatus:
        for b in OrderStatus:
            if a != b and can_transition(a, b) and b is not OrderStatus.NEW:
                assert STATUS_RANK[b] >= STATUS_RANK[a], (a, b)


def test_client_order_id_is_deterministic_and_fits_the_column() -> None:
    a = client_order_id("sig", "acct")
    assert a == client_order_id("sig", "acct")
    assert a != client_order_id("sig", "acct2")
    assert len(a) <= 32
