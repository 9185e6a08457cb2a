"""The stable policy in Python: every server a voter, promote each healthy non-voter
once it has been healthy for the stabilization time, allow every removal."""

from typing import List, Optional

from wit_world import exports
from wit_world.imports import types

VOTER = "voter"


def nanos(t: types.Timestamp) -> int:
    return t.seconds * 1_000_000_000 + t.nanos


def stable(state: types.State, s: types.ServerState) -> bool:
    return s.health.healthy and nanos(state.now) - nanos(s.health.stable_since) >= state.effective_stabilization_ns


def next_stable_after(state: types.State) -> Optional[types.Timestamp]:
    now = nanos(state.now)
    due = [
        nanos(s.health.stable_since) + state.effective_stabilization_ns
        for s in state.servers
        if s.health.healthy and s.raft_state == types.RaftState.NON_VOTER
    ]
    due = [d for d in due if d > now]
    if not due:
        return None
    at = min(due)
    return types.Timestamp(seconds=at // 1_000_000_000, nanos=at % 1_000_000_000)


class Policy(exports.Policy):
    def metadata(self) -> types.PolicyInfo:
        return types.PolicyInfo(name="stable-py", version="0.1.0", reads_server_details=False)

    def decide(self, config: types.Config, state: types.State, judge_node_types: List[str]) -> types.Decisions:
        promotions = [
            i for i, s in enumerate(state.servers)
            if s.raft_state == types.RaftState.NON_VOTER and stable(state, s)
        ]
        return types.Decisions(
            server_ext=[],
            state_ext=None,
            node_type_names=[VOTER],
            node_types=[(i, 0) for i in range(len(state.servers))],
            potential_voters=[t == VOTER for t in judge_node_types],
            changes=types.Changes(promotions=promotions, demotions=[], leader=None),
            wake_at=next_stable_after(state),
        )

    def filter_removals(self, config: types.Config, state: types.State, failed: types.FailedServers) -> types.Removals:
        return types.Removals(
            stale_non_voters=list(range(len(failed.stale_non_voters))),
            stale_voters=list(range(len(failed.stale_voters))),
            failed_non_voters=list(range(len(failed.failed_non_voters))),
            failed_voters=list(range(len(failed.failed_voters))),
        )
