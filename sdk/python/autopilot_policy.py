"""The autopilot policy SDK for Python.

A policy is a subclass of `Policy` that overrides only what differs from the stable
policy (every method's default is the stable policy's). `decide` runs one round the way
the host's `decide` call does, so a policy is unit-tested natively (pytest, no wasm);
`export` turns it into the component's `policy` export for componentize-py:

    # policy.py: the logic, tested natively
    class MyPolicy(Policy):
        name, version = "my-policy", "0.1.0"
        def changes(self, config, state): ...

    # app.py: the component's entry point
    from autopilot_policy import export
    from policy import MyPolicy
    Policy = export(MyPolicy())

Build with `autopilot policy build` (or componentize-py directly:
`componentize-py -d wit -w promoter componentize -p . -p <this directory> app -o policy.wasm`).

Types mirror the Rust SDK's (`autopilot-sdk`) in Python's spelling. Timestamps are
`Timestamp(seconds, nanos)`; durations are integers of nanoseconds (`..._ns`). A policy
must be a pure function of its input: read the time from `state.now`, never a clock.
This module has no dependency beyond the standard library, so it can be copied into a
policy's project as it is (`autopilot policy new` does).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Dict, Iterable, List, Optional

__all__ = [
    "NANOS", "VOTER", "Timestamp", "NodeStatus", "RaftState", "Config", "Server", "Stats",
    "Health", "ServerState", "State", "Changes", "Decisions", "FailedServers",
    "PolicyError", "InvalidInput", "Internal", "Policy", "Stable", "decide",
    "filter_removals", "is_stable", "next_stable_after", "quorum", "failure_tolerance",
    "server_order_key", "compare_servers", "sort_servers", "safe_changes",
    "stable_changes", "StateBuilder", "export",
]

#: Nanoseconds in a second.
NANOS = 1_000_000_000

#: The node type the stable policy gives every server.
VOTER = "voter"


@dataclass(frozen=True, order=True)
class Timestamp:
    """An instant: seconds and nanoseconds (below one second) since the Unix epoch."""

    seconds: int
    nanos: int = 0

    def to_nanos(self) -> int:
        """Nanoseconds since the epoch."""
        return self.seconds * NANOS + self.nanos

    @staticmethod
    def from_nanos(total: int) -> "Timestamp":
        """The instant `total` nanoseconds after the epoch (negative: before it)."""
        return Timestamp(total // NANOS, total % NANOS)

    def nanos_since(self, earlier: "Timestamp") -> int:
        """Nanoseconds from `earlier` to this instant (negative when this is earlier)."""
        return self.to_nanos() - earlier.to_nanos()

    def plus_nanos(self, nanos: int) -> "Timestamp":
        """This instant moved by `nanos` (which may be negative)."""
        return Timestamp.from_nanos(self.to_nanos() + nanos)


class NodeStatus(Enum):
    """What the application believes about a server."""

    UNKNOWN = "unknown"
    ALIVE = "alive"
    FAILED = "failed"
    LEFT = "left"


class RaftState(Enum):
    """A server's role."""

    NONE = "none"
    LEADER = "leader"
    VOTER = "voter"
    NON_VOTER = "non-voter"
    STAGING = "staging"

    def has_voting_rights(self) -> bool:
        """Leader or voter."""
        return self in (RaftState.LEADER, RaftState.VOTER)


@dataclass
class Config:
    """Autopilot's tunables; durations in nanoseconds, `ext` the policy's JSON settings."""

    cleanup_dead_servers: bool = False
    last_contact_threshold_ns: int = 0
    max_trailing_logs: int = 0
    min_quorum: int = 0
    server_stabilization_time_ns: int = 0
    ext: Optional[str] = None


@dataclass
class Server:
    """A server as the application knows it. Name, address, version and meta are empty
    (meta `None`) unless the policy reads server details."""

    id: str
    address: str = ""
    name: str = ""
    node_status: NodeStatus = NodeStatus.ALIVE
    version: str = ""
    meta: Optional[Dict[str, str]] = None
    raft_version: int = 3
    is_leader: bool = False
    node_type: str = ""
    ext: Optional[str] = None

    def meta_value(self, key: str) -> Optional[str]:
        """A metadata value, `None` when absent."""
        return None if self.meta is None else self.meta.get(key)


@dataclass
class Stats:
    """Replication figures: last contact in nanoseconds (negative: unknown)."""

    last_contact_ns: int = 0
    last_term: int = 0
    last_index: int = 0


@dataclass
class Health:
    """Health, and since when it has held."""

    healthy: bool
    stable_since: Timestamp


@dataclass
class ServerState:
    """One server of the state."""

    server: Server
    raft_state: RaftState
    stats: Stats
    health: Health


@dataclass
class State:
    """The state a policy decides on, with the clock it is judged by. `servers` maps ids
    to servers in id order; `voters` lists the leader and voters, best first."""

    now: Timestamp
    servers: Dict[str, ServerState] = field(default_factory=dict)
    healthy: bool = True
    failure_tolerance: int = 0
    leader: Optional[str] = None
    voters: List[str] = field(default_factory=list)
    ext: Optional[str] = None
    first_state_time: Timestamp = Timestamp(0)
    effective_stabilization_ns: int = 0


@dataclass
class Changes:
    """Membership wishes: servers (by id) to promote and demote, the desired leader."""

    promotions: List[str] = field(default_factory=list)
    demotions: List[str] = field(default_factory=list)
    leader: Optional[str] = None


@dataclass
class Decisions:
    """Everything one round decided (what `decide` returns)."""

    server_ext: Dict[str, str] = field(default_factory=dict)
    state_ext: Optional[str] = None
    node_types: Dict[str, str] = field(default_factory=dict)
    changes: Changes = field(default_factory=Changes)
    wake_at: Optional[Timestamp] = None
    #: The node types, among those the host asked about, that count as potential voters.
    potential_voter_types: List[str] = field(default_factory=list)


@dataclass
class FailedServers:
    """Servers pruning may remove, by category (stale ones by id)."""

    stale_non_voters: List[str] = field(default_factory=list)
    stale_voters: List[str] = field(default_factory=list)
    failed_non_voters: List[Server] = field(default_factory=list)
    failed_voters: List[Server] = field(default_factory=list)


class PolicyError(Exception):
    """An expected failure: raise `InvalidInput` or `Internal`, and the host reports it
    as the policy's fault and takes the stable policy's decision for that round."""

    kind = "internal"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidInput(PolicyError):
    """The input does not suit the policy (for example malformed settings)."""

    kind = "invalid-input"


class Internal(PolicyError):
    """The policy could not decide."""

    kind = "internal"


# ---------------------------------------------------------------------------------------
# Helpers every policy needs.


def is_stable(state: State, server: ServerState) -> bool:
    """Healthy, and healthy for at least the effective stabilization time at `state.now`."""
    return server.health.healthy and (
        state.now.nanos_since(server.health.stable_since) >= state.effective_stabilization_ns
    )


def next_stable_after(state: State, window_ns: int) -> Optional[Timestamp]:
    """The first instant after `state.now` at which a healthy non-voter will have been
    healthy for `window_ns`; `None` when no healthy non-voter is waiting."""
    due = [
        s.health.stable_since.plus_nanos(window_ns)
        for s in state.servers.values()
        if s.health.healthy and s.raft_state == RaftState.NON_VOTER
    ]
    due = [at for at in due if at > state.now]
    return min(due) if due else None


def quorum(voters: int) -> int:
    """Voters needed for a quorum of `voters`."""
    return voters // 2 + 1


def failure_tolerance(voters: int, healthy_voters: int) -> int:
    """How many of `voters` may fail with a quorum of `healthy_voters` left."""
    return max(healthy_voters - quorum(voters), 0)


_RANK = {RaftState.LEADER: 0, RaftState.VOTER: 1}


def server_order_key(s: ServerState):
    """The reference's order as a sort key: leader, then voters, healthy before
    unhealthy, longer stable first among healthy (shorter unhealthy first among
    unhealthy), then id."""
    since = s.health.stable_since.to_nanos()
    return (
        _RANK.get(s.raft_state, 2),
        not s.health.healthy,
        since if s.health.healthy else -since,
        s.server.id,
    )


def compare_servers(a: ServerState, b: ServerState) -> int:
    """The reference's order as a comparison (-1, 0, 1)."""
    ka, kb = server_order_key(a), server_order_key(b)
    return (ka > kb) - (ka < kb)


def sort_servers(ids: List[str], state: State) -> None:
    """Sorts ids of the state's servers in the reference's order (unknown ids last)."""

    def key(i: str):
        s = state.servers.get(i)
        return (0, server_order_key(s)) if s is not None else (1, i)

    ids.sort(key=key)


def safe_changes(config: Config, state: State, changes: Changes) -> Changes:
    """`changes` cut down to what the host's safety rules accept, so a policy whose plan
    would go too far in some cluster still gets its safe part through (the host refuses
    an unsafe answer whole). It drops a demotion of the leader; promotions of servers
    that are not healthy, alive non-voters (or staging); demotions, unhealthy voters
    first, beyond those that leave at least `config.min_quorum` voters (promotions
    counted) of whom the healthy ones are a majority; a leader that is not a healthy
    voter."""
    servers = state.servers
    promotions = [
        i for i in changes.promotions
        if i in servers
        and servers[i].raft_state in (RaftState.NON_VOTER, RaftState.STAGING)
        and servers[i].health.healthy
        and servers[i].server.node_status == NodeStatus.ALIVE
    ]

    def votes(i: str) -> bool:
        return i in servers and servers[i].raft_state.has_voting_rights()

    def healthy(i: str) -> bool:
        return i in servers and servers[i].health.healthy

    candidates = [i for i in changes.demotions if state.leader != i]
    # Unhealthy voters first: demoting them can only help the healthy majority.
    candidates.sort(key=lambda i: votes(i) and healthy(i))
    remaining = sorted(set(state.voters) | set(promotions))
    demotions = []
    for i in candidates:
        if not votes(i):
            demotions.append(i)
            continue
        after = [r for r in remaining if r != i]
        if len(after) >= config.min_quorum and sum(map(healthy, after)) >= quorum(len(after)):
            remaining = after
            demotions.append(i)
    leader = changes.leader
    if leader is not None and not (state.leader == leader or (votes(leader) and healthy(leader))):
        leader = None
    return Changes(promotions=promotions, demotions=demotions, leader=leader)


def stable_changes(state: State) -> Changes:
    """The stable policy's changes: every stable non-voter, in id order."""
    return Changes(
        promotions=[
            i for i, s in state.servers.items()
            if s.raft_state == RaftState.NON_VOTER and is_stable(state, s)
        ]
    )


# ---------------------------------------------------------------------------------------
# The policy and its round.


class Policy:
    """A placement policy. Override only what differs from the stable policy: every
    method's default is the stable policy's behaviour. Set `name` and `version`."""

    #: The policy's name, as the host reports it.
    name = "unnamed"
    #: The policy's version.
    version = "0.0.0"
    #: Whether the policy reads servers' names, addresses, versions and metadata. When
    #: false the host does not send them, and each round is cheaper; `decide` clears
    #: them the same way, so native tests see what the component will.
    reads_server_details = True

    def server_ext(self, config: Config, server: ServerState) -> Optional[str]:
        """Extension data (JSON text) for one server; `None` leaves it unchanged."""
        return None

    def state_ext(self, config: Config, state: State) -> Optional[str]:
        """Extension data (JSON text) for the state; `None` leaves it unchanged."""
        return None

    def node_types(self, config: Config, state: State) -> Dict[str, str]:
        """Each server's node type. Stable: `voter` for everyone."""
        return {i: VOTER for i in state.servers}

    def changes(self, config: Config, state: State) -> Changes:
        """Promotions, demotions and the desired leader. Stable: every stable non-voter."""
        return stable_changes(state)

    def filter_failed_server_removals(
        self, config: Config, state: State, failed: FailedServers
    ) -> FailedServers:
        """Which failed and stale servers may be removed. Stable: all of them."""
        return failed

    def is_potential_voter(self, node_type: str) -> bool:
        """Whether servers of this node type count as potential voters. Stable: `voter`."""
        return node_type == VOTER

    def wake_at(self, config: Config, state: State) -> Optional[Timestamp]:
        """When the answer could next change with no new input (the host runs a round
        then). Stable: when the next healthy non-voter becomes stable."""
        return next_stable_after(state, state.effective_stabilization_ns)


class Stable(Policy):
    """The stable policy, every default."""

    name = "stable"
    version = "0.1.0"
    reads_server_details = False


def _without_details(server: Server) -> None:
    server.name = ""
    server.address = ""
    server.version = ""
    server.meta = None


def decide(
    policy: Policy, config: Config, state: State, judge_node_types: Iterable[str] = ()
) -> Decisions:
    """Runs one round of `policy` as the host's `decide` call does: each server's
    extension, the state extension, node types (each step seeing the previous ones
    applied), then the changes on the annotated state, the wake-up time, and the
    potential-voter verdicts for `judge_node_types`. `state` is annotated in place.
    Raises the policy's `PolicyError`."""
    if not policy.reads_server_details:
        for s in state.servers.values():
            _without_details(s.server)
    out = Decisions()
    for i, s in state.servers.items():
        ext = policy.server_ext(config, s)
        if ext is not None:
            s.server.ext = ext
            out.server_ext[i] = ext
    ext = policy.state_ext(config, state)
    if ext is not None:
        state.ext = ext
        out.state_ext = ext
    out.node_types = dict(policy.node_types(config, state))
    for i, node_type in out.node_types.items():
        if i in state.servers:
            state.servers[i].server.node_type = node_type
    out.changes = policy.changes(config, state)
    out.wake_at = policy.wake_at(config, state)
    out.potential_voter_types = [t for t in judge_node_types if policy.is_potential_voter(t)]
    return out


def filter_removals(
    policy: Policy, config: Config, state: State, failed: FailedServers
) -> FailedServers:
    """Runs the policy's removal filter as the host's `filter-removals` call does."""
    if not policy.reads_server_details:
        for s in state.servers.values():
            _without_details(s.server)
        for s in failed.failed_non_voters + failed.failed_voters:
            _without_details(s)
    return policy.filter_failed_server_removals(config, state, failed)


# ---------------------------------------------------------------------------------------
# Native tests.


class StateBuilder:
    """Builds a `State` server by server for native tests; the summary (health, leader,
    voters best first, failure tolerance) is derived by `build`."""

    def __init__(self, now: Timestamp, effective_stabilization_ns: int):
        self._state = State(
            now=now,
            first_state_time=now.plus_nanos(-3600 * NANOS),
            effective_stabilization_ns=effective_stabilization_ns,
        )

    def server(
        self, id: str, role: RaftState, healthy: bool = True, stable_for_ns: int = 3600 * NANOS
    ) -> "StateBuilder":
        """Adds a server in `role`, healthy (or not) for `stable_for_ns`."""
        self._state.servers[id] = ServerState(
            server=Server(id=id, address=f"{id}:8300"),
            raft_state=role,
            stats=Stats(),
            health=Health(healthy, self._state.now.plus_nanos(-stable_for_ns)),
        )
        return self

    def meta(self, id: str, key: str, value: str) -> "StateBuilder":
        """Sets a metadata entry on a server."""
        server = self._state.servers[id].server
        server.meta = dict(server.meta or {}, **{key: value})
        return self

    def failed(self, id: str) -> "StateBuilder":
        """Marks a server failed (not alive, unhealthy)."""
        s = self._state.servers[id]
        s.server.node_status = NodeStatus.FAILED
        s.health = replace(s.health, healthy=False)
        return self

    def build(self) -> State:
        """The state, servers in id order, with its summary derived."""
        state = self._state
        state.servers = dict(sorted(state.servers.items()))
        state.healthy = all(s.health.healthy for s in state.servers.values())
        state.leader = next(
            (i for i, s in state.servers.items() if s.raft_state == RaftState.LEADER), None
        )
        if state.leader is not None:
            state.servers[state.leader].server.is_leader = True
        voters = [i for i, s in state.servers.items() if s.raft_state.has_voting_rights()]
        sort_servers(voters, state)
        healthy = sum(1 for i in voters if state.servers[i].health.healthy)
        state.failure_tolerance = failure_tolerance(len(voters), healthy)
        state.voters = voters
        return state


# ---------------------------------------------------------------------------------------
# The component glue (componentize-py's bindings exist only while it builds).

_NO_SERVER = 2**32 - 1


def _time_from(t) -> Timestamp:
    return Timestamp(t.seconds, t.nanos)


def _config_from(c) -> Config:
    return Config(
        cleanup_dead_servers=c.cleanup_dead_servers,
        last_contact_threshold_ns=c.last_contact_threshold_ns,
        max_trailing_logs=c.max_trailing_logs,
        min_quorum=c.min_quorum,
        server_stabilization_time_ns=c.server_stabilization_time_ns,
        ext=c.ext,
    )


def _server_from(s) -> Server:
    d = s.details
    return Server(
        id=s.id,
        name=d.name if d else "",
        address=d.address if d else "",
        node_status=NodeStatus[s.node_status.name],
        version=d.version if d else "",
        meta=dict(d.meta) if d is not None and d.meta is not None else None,
        raft_version=s.raft_version,
        is_leader=s.is_leader,
        node_type=s.node_type,
        ext=s.ext,
    )


def _state_from(s) -> State:
    servers = {}
    for x in s.servers:
        server = _server_from(x.server)
        servers[server.id] = ServerState(
            server=server,
            raft_state=RaftState[x.raft_state.name],
            stats=Stats(x.stats.last_contact_ns, x.stats.last_term, x.stats.last_index),
            health=Health(x.health.healthy, _time_from(x.health.stable_since)),
        )
    return State(
        now=_time_from(s.now),
        servers=servers,
        healthy=s.healthy,
        failure_tolerance=s.failure_tolerance,
        leader=s.leader,
        voters=list(s.voters),
        ext=s.ext,
        first_state_time=_time_from(s.first_state_time),
        effective_stabilization_ns=s.effective_stabilization_ns,
    )


def export(policy: Policy):
    """The component's `policy` export for `policy`: in the app module given to
    componentize-py, write `Policy = export(MyPolicy())`."""
    from componentize_py_types import Err
    from wit_world import exports
    from wit_world.imports import types as wit

    def error(e: PolicyError):
        if isinstance(e, InvalidInput):
            return Err(wit.PolicyError_InvalidInput(e.message))
        return Err(wit.PolicyError_Internal(e.message))

    def indices(order: List[str]):
        at = {i: n for n, i in enumerate(order)}
        return lambda ids: [at.get(i, _NO_SERVER) for i in ids]

    class Export(exports.Policy):
        def metadata(self):
            return wit.PolicyInfo(
                name=policy.name,
                version=policy.version,
                reads_server_details=bool(policy.reads_server_details),
            )

        def decide(self, config, state, judge_node_types):
            try:
                s = _state_from(state)
                d = decide(policy, _config_from(config), s, judge_node_types)
            except PolicyError as e:
                raise error(e)
            at = indices(list(s.servers))
            names: Dict[str, int] = {}
            node_types = []
            for i, node_type in d.node_types.items():
                index = names.setdefault(node_type, len(names))
                node_types.append((at([i])[0], index))
            c = d.changes
            wake = d.wake_at
            return wit.Decisions(
                server_ext=[(at([i])[0], ext) for i, ext in d.server_ext.items()],
                state_ext=d.state_ext,
                node_type_names=list(names),
                node_types=node_types,
                potential_voters=[t in d.potential_voter_types for t in judge_node_types],
                changes=wit.Changes(
                    promotions=at(c.promotions),
                    demotions=at(c.demotions),
                    leader=None if c.leader is None else at([c.leader])[0],
                ),
                wake_at=None if wake is None else wit.Timestamp(wake.seconds, wake.nanos),
            )

        def filter_removals(self, config, state, failed):
            offered = FailedServers(
                stale_non_voters=list(failed.stale_non_voters),
                stale_voters=list(failed.stale_voters),
                failed_non_voters=[_server_from(s) for s in failed.failed_non_voters],
                failed_voters=[_server_from(s) for s in failed.failed_voters],
            )
            try:
                # The policy gets lists of its own: the offered ones index the answer.
                copy = FailedServers(
                    list(offered.stale_non_voters),
                    list(offered.stale_voters),
                    list(offered.failed_non_voters),
                    list(offered.failed_voters),
                )
                kept = filter_removals(policy, _config_from(config), _state_from(state), copy)
            except PolicyError as e:
                raise error(e)

            def ids(servers: List[Server]) -> List[str]:
                return [s.id for s in servers]

            return wit.Removals(
                stale_non_voters=indices(offered.stale_non_voters)(kept.stale_non_voters),
                stale_voters=indices(offered.stale_voters)(kept.stale_voters),
                failed_non_voters=indices(ids(offered.failed_non_voters))(
                    ids(kept.failed_non_voters)
                ),
                failed_voters=indices(ids(offered.failed_voters))(ids(kept.failed_voters)),
            )

    Export.__name__ = "Policy"
    return Export
