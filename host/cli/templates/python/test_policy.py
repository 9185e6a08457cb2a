"""Native tests of {{name}} (pytest, no wasm)."""

from autopilot_policy import NANOS, Config, RaftState, StateBuilder, Timestamp, decide
from policy import {{Type}}


def test_promotes_one_stable_non_voter_per_round_the_longest_stable_first():
    state = (
        StateBuilder(Timestamp(1_000_000), 10 * NANOS)
        .server("a", RaftState.LEADER, True, 600 * NANOS)
        .server("b", RaftState.NON_VOTER, True, 60 * NANOS)
        .server("c", RaftState.NON_VOTER, True, 120 * NANOS)
        .server("d", RaftState.NON_VOTER, True, 5 * NANOS)
        .build()
    )
    assert decide({{Type}}(), Config(), state).changes.promotions == ["c"]
