"""Native tests of the SDK: the helpers and the round runner, no wasm."""

import pytest

from autopilot_policy import (
    NANOS, Changes, Config, FailedServers, InvalidInput, Policy, RaftState, Stable,
    StateBuilder, Timestamp, decide, filter_removals, safe_changes, sort_servers,
)

LONG = 600 * NANOS
NOW = Timestamp(1_000_000)


def cluster():
    """Leader a, voters b, c healthy and d unhealthy; non-voters e healthy, f unhealthy."""
    return (
        StateBuilder(NOW, 10 * NANOS)
        .server("a", RaftState.LEADER, True, LONG)
        .server("b", RaftState.VOTER, True, LONG)
        .server("c", RaftState.VOTER, True, LONG)
        .server("d", RaftState.VOTER, False, LONG)
        .server("e", RaftState.NON_VOTER, True, LONG)
        .server("f", RaftState.NON_VOTER, False, LONG)
        .build()
    )


def test_safe_changes_keeps_a_safe_answer_whole():
    changes = Changes(["e"], ["d"], "b")
    assert safe_changes(Config(min_quorum=3), cluster(), changes) == changes


def test_safe_changes_drops_what_the_host_would_refuse():
    changes = Changes(["b", "e", "f"], ["a", "b", "c", "d"], "d")
    safe = safe_changes(Config(min_quorum=3), cluster(), changes)
    # The leader stays; the unhealthy voter goes first; then healthy voters only while
    # three voters with a healthy majority remain (a, c, e after b goes).
    assert safe == Changes(["e"], ["d", "b"], None)


def test_the_reference_order_puts_the_leader_then_healthy_long_stable_voters_first():
    state = (
        StateBuilder(NOW, 10 * NANOS)
        .server("v-new", RaftState.VOTER, True, 5 * NANOS)
        .server("v-old", RaftState.VOTER, True, LONG)
        .server("v-sick", RaftState.VOTER, False, LONG)
        .server("v-sick-new", RaftState.VOTER, False, 5 * NANOS)
        .server("z-lead", RaftState.LEADER, True, 1)
        .server("a-nv", RaftState.NON_VOTER, True, LONG)
        .build()
    )
    ids = list(state.servers)
    sort_servers(ids, state)
    assert ids == ["z-lead", "v-old", "v-new", "v-sick-new", "v-sick", "a-nv"]
    assert state.voters == ids[:5]
    assert state.failure_tolerance == 0


def test_the_stable_defaults_promote_stable_non_voters_and_wake_for_the_next():
    state = (
        StateBuilder(NOW, 10 * NANOS)
        .server("a", RaftState.LEADER)
        .server("b", RaftState.NON_VOTER, True, 11 * NANOS)
        .server("c", RaftState.NON_VOTER, True, 4 * NANOS)
        .server("d", RaftState.NON_VOTER, False, LONG)
        .build()
    )
    d = decide(Stable(), Config(), state, ["voter", "other"])
    assert d.changes == Changes(["b"], [], None)
    assert d.node_types == {i: "voter" for i in "abcd"}
    assert d.potential_voter_types == ["voter"]
    assert d.wake_at == NOW.plus_nanos(6 * NANOS)


def test_decide_applies_each_step_before_the_next_and_clears_unread_details():
    seen = {}

    class Annotating(Policy):
        reads_server_details = False

        def server_ext(self, config, server):
            seen["meta"] = server.server.meta
            return '{"n":1}'

        def state_ext(self, config, state):
            seen["server_ext"] = state.servers["a"].server.ext
            return '"s"'

        def node_types(self, config, state):
            seen["state_ext"] = state.ext
            return {"a": "special"}

        def changes(self, config, state):
            seen["node_type"] = state.servers["a"].server.node_type
            return Changes()

    state = StateBuilder(NOW, 0).server("a", RaftState.LEADER).meta("a", "zone", "z1").build()
    d = decide(Annotating(), Config(), state)
    assert seen == {"meta": None, "server_ext": '{"n":1}', "state_ext": '"s"', "node_type": "special"}
    assert d.server_ext == {"a": '{"n":1}'} and d.state_ext == '"s"'


def test_errors_raise_and_removals_default_to_all():
    class Picky(Policy):
        def changes(self, config, state):
            raise InvalidInput("no")

    state = cluster()
    with pytest.raises(InvalidInput):
        decide(Picky(), Config(), state)
    failed = FailedServers(stale_voters=["x"])
    assert filter_removals(Stable(), Config(), state, failed) == failed


def test_timestamps_keep_nanoseconds_in_range():
    t = Timestamp(10, 5).plus_nanos(-6)
    assert t == Timestamp(9, NANOS - 1)
    assert Timestamp(-62135596800).to_nanos() == -62135596800 * NANOS
