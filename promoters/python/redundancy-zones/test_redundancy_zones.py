"""Native tests of the Python redundancy-zones policy (pytest, no wasm)."""

import pytest

from autopilot_policy import (
    NANOS, Config, FailedServers, InvalidInput, NodeStatus, RaftState, StateBuilder,
    Timestamp, decide,
)
from policy import RedundancyZones

NOW = Timestamp(1_000_000)
LONG = 600 * NANOS
L, V, N = RaftState.LEADER, RaftState.VOTER, RaftState.NON_VOTER


def zoned(rows):
    """rows: (id, role, healthy, zone)"""
    b = StateBuilder(NOW, 10 * NANOS)
    for i, role, healthy, zone in rows:
        b.server(i, role, healthy, LONG)
        if zone:
            b.meta(i, "zone", zone)
    return b.build()


def run(state, ext=None):
    return decide(RedundancyZones(), Config(min_quorum=3, ext=ext), state)


def test_one_voter_per_zone_and_the_rest_standbys():
    state = zoned([("a1", L, True, "a"), ("a2", N, True, "a"), ("b1", V, True, "b"),
                   ("b2", N, True, "b"), ("c1", V, True, "c")])
    d = run(state)
    assert d.node_types == {"a1": "zone-voter", "a2": "zone-standby", "b1": "zone-voter",
                            "b2": "zone-standby", "c1": "zone-voter"}
    assert d.changes.promotions == [] and d.changes.demotions == []


def test_a_failed_zone_voter_is_replaced_by_its_standby():
    state = zoned([("a1", L, True, "a"), ("b1", V, True, "b"), ("c1", V, False, "c"),
                   ("c2", N, True, "c")])
    d = run(state)
    assert d.changes.promotions == ["c2"]
    assert d.changes.demotions == ["c1"]
    assert d.node_types["c2"] == "zone-voter"


def test_a_lost_zone_is_stood_in_for_by_another_zones_standby():
    state = zoned([("a1", L, True, "a"), ("a2", N, True, "a"), ("b1", V, True, "b"),
                   ("c1", V, False, "c")])
    d = run(state)
    assert d.node_types["a2"] == "zone-extra-voter"
    assert d.changes.promotions == ["a2"]


def test_servers_without_a_zone_follow_the_stable_policy():
    state = zoned([("a", L, True, None), ("b", V, True, None), ("c", N, True, None)])
    d = run(state)
    assert d.changes.promotions == ["c"]
    assert set(d.node_types.values()) == {"voter"}


def test_the_zone_meta_key_is_configurable_and_checked():
    state = (StateBuilder(NOW, 0).server("a", L).server("b", N).meta("a", "rack", "r1")
             .meta("b", "rack", "r1").build())
    d = run(state, '{"zone_tag":"rack"}')
    assert d.node_types == {"a": "zone-voter", "b": "zone-standby"}
    assert '"zone_tag":"rack"' in d.state_ext
    with pytest.raises(InvalidInput):
        run(zoned([("a", L, True, None)]), '{"zone_tag":7}')
    with pytest.raises(InvalidInput):
        run(zoned([("a", L, True, None)]), "not json")


def test_the_last_server_of_a_zone_is_kept_unless_it_left():
    state = zoned([("a1", L, True, "a"), ("b1", V, True, "b"), ("c1", V, False, "c"),
                   ("d1", V, False, "d")])
    c1 = state.servers["c1"].server
    d1 = state.servers["d1"].server
    d1.node_status = NodeStatus.LEFT
    kept = RedundancyZones().filter_failed_server_removals(
        Config(), state, FailedServers(failed_voters=[c1, d1]))
    assert [s.id for s in kept.failed_voters] == ["d1"]
