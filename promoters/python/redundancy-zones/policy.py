"""The redundancy-zones policy in Python, making the same decisions as the Rust one
(`promoters/zones`): servers carry a zone in their metadata (key `zone`, or the config
extension's `zone_tag`); each zone has exactly one voter and its other servers are
standbys. When a zone's voter fails, the zone's best stable standby is promoted and the
failed voter demoted; when a whole zone is lost, a standby of another zone stands in so
the voter count holds. Servers without a zone follow the stable policy."""

import json
from typing import Dict, List

from autopilot_policy import (
    Changes, Config, FailedServers, InvalidInput, NodeStatus, Policy, RaftState,
    ServerState, State, is_stable, quorum, safe_changes, server_order_key,
)

ZONE_VOTER = "zone-voter"
ZONE_EXTRA_VOTER = "zone-extra-voter"
ZONE_STANDBY = "zone-standby"
VOTER = "voter"


def zone_tag(config: Config) -> str:
    """The meta key naming a server's zone: the config extension's `zone_tag`, else `zone`."""
    if config.ext is None:
        return "zone"
    try:
        settings = json.loads(config.ext)
    except ValueError as e:
        raise InvalidInput(f"config extension is not JSON: {e}")
    tag = settings.get("zone_tag") if isinstance(settings, dict) else None
    if tag is None:
        return "zone"
    if isinstance(tag, str) and tag:
        return tag
    raise InvalidInput(f"zone_tag must be a non-empty string, not {json.dumps(tag)}")


def votes(s: ServerState) -> bool:
    return s.raft_state.has_voting_rights()


class Plan:
    """Every server's role: node types, promotions, demotions, and the zones."""

    def __init__(self):
        self.node_types: Dict[str, str] = {}
        self.promotions: List[str] = []
        self.demotions: List[str] = []
        self.zones: Dict[str, List[str]] = {}


def plan(tag: str, state: State) -> Plan:
    out = Plan()
    zoned: Dict[str, List[ServerState]] = {}
    for s in state.servers.values():
        zone = s.server.meta_value(tag)
        if zone:
            zoned.setdefault(zone, []).append(s)
        else:
            # No zone: the stable policy.
            out.node_types[s.server.id] = VOTER
            if s.raft_state == RaftState.NON_VOTER and is_stable(state, s):
                out.promotions.append(s.server.id)

    lost_zones = 0
    spare: List[ServerState] = []
    voting_standbys: List[str] = []
    for zone in sorted(zoned):
        members = zoned[zone]
        out.zones[zone] = [s.server.id for s in members]
        members = sorted(members, key=server_order_key)
        # The zone's voter: its best healthy voter, else its best stable standby.
        voter = next((s for s in members if votes(s) and s.health.healthy), None)
        if voter is None:
            voter = next((s for s in members if not votes(s) and is_stable(state, s)), None)
        if voter is None:
            # Lost: nobody can vote for this zone. Its failed voters step down.
            lost_zones += 1
            for m in members:
                out.node_types[m.server.id] = ZONE_STANDBY
                if votes(m) and not m.health.healthy:
                    out.demotions.append(m.server.id)
            continue
        out.node_types[voter.server.id] = ZONE_VOTER
        if not votes(voter):
            out.promotions.append(voter.server.id)
        for other in members:
            if other.server.id == voter.server.id:
                continue
            out.node_types[other.server.id] = ZONE_STANDBY
            if votes(other):
                voting_standbys.append(other.server.id)
            if other.health.healthy and (votes(other) or is_stable(state, other)):
                spare.append(other)

    # Stand-ins for lost zones: healthy standbys of other zones, those already voting
    # first (no churn), then the best.
    spare.sort(key=lambda s: (not votes(s), server_order_key(s)))
    for stand_in in spare[:lost_zones]:
        out.node_types[stand_in.server.id] = ZONE_EXTRA_VOTER
        if not votes(stand_in):
            out.promotions.append(stand_in.server.id)
    # Every other voting standby steps down.
    out.demotions += [i for i in voting_standbys if out.node_types.get(i) == ZONE_STANDBY]
    out.promotions.sort()
    out.demotions.sort()
    return out


def zone_report(tag: str, state: State, p: Plan) -> str:
    zones = {}
    healthy_servers = 0
    for zone, ids in p.zones.items():
        members = [state.servers[i] for i in ids if i in state.servers]
        healthy = sum(1 for s in members if s.health.healthy)
        healthy_servers += healthy
        zones[zone] = {
            "servers": ids,
            "voters": [s.server.id for s in members if votes(s)],
            # How many of the zone's servers may fail with the zone still voting.
            "failure_tolerance": max(healthy - 1, 0),
        }
    healthy_voters = sum(
        1 for i in state.voters if i in state.servers and state.servers[i].health.healthy
    )
    # Counting standbys that could be promoted to replace failed voters.
    healthy_standbys = max(healthy_servers - len(p.zones), 0)
    report = {
        "zone_tag": tag,
        "zones": zones,
        "optimistic_failure_tolerance": max(
            healthy_voters + healthy_standbys - quorum(len(state.voters)), 0
        ),
    }
    return json.dumps(report, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class RedundancyZones(Policy):
    """One voter per zone, the others hot standbys."""

    name = "redundancy-zones-py"
    version = "0.1.0"

    def __init__(self):
        self._last = None

    def plan(self, config, state) -> Plan:
        """The plan for this round's state, made once: the round's steps annotate the
        state (extensions, node types) but change nothing the plan reads."""
        tag = zone_tag(config)
        if self._last is None or self._last[0] is not state or self._last[1] != tag:
            self._last = (state, tag, plan(tag, state))
        return self._last[2]

    def state_ext(self, config, state):
        return zone_report(zone_tag(config), state, self.plan(config, state))

    def node_types(self, config, state):
        return self.plan(config, state).node_types

    def changes(self, config, state):
        p = self.plan(config, state)
        # A lost zone's failed voter steps down only where the cluster can spare it.
        return safe_changes(config, state, Changes(p.promotions, p.demotions, None))

    def filter_failed_server_removals(self, config, state, failed: FailedServers):
        tag = zone_tag(config)
        sizes: Dict[str, int] = {}
        for s in state.servers.values():
            zone = s.server.meta_value(tag)
            if zone is not None:
                sizes[zone] = sizes.get(zone, 0) + 1

        def last_of_zone(i: str) -> bool:
            s = state.servers.get(i)
            zone = None if s is None else s.server.meta_value(tag)
            return zone is not None and sizes.get(zone) == 1

        # Keep the last server of a zone while it could still come back (failed, not
        # left): removing it would leave the zone empty for good.
        def keep(servers):
            return [s for s in servers if s.node_status == NodeStatus.LEFT or not last_of_zone(s.id)]

        failed.failed_voters = keep(failed.failed_voters)
        failed.failed_non_voters = keep(failed.failed_non_voters)
        return failed

    def is_potential_voter(self, node_type):
        return node_type in (VOTER, ZONE_VOTER, ZONE_EXTRA_VOTER)
