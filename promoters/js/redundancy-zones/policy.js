// The redundancy-zones policy in JavaScript, making the same decisions as the Rust one
// (`promoters/zones`): servers carry a zone in their metadata (key `zone`, or the config
// extension's `zone_tag`); each zone has exactly one voter and its other servers are
// standbys. When a zone's voter fails, the zone's best stable standby is promoted and
// the failed voter demoted; when a whole zone is lost, a standby of another zone stands
// in so the voter count holds. Servers without a zone follow the stable policy.
import {
  NodeStatus,
  Policy,
  RaftState,
  compareIds,
  compareServers,
  exportPolicy,
  hasVotingRights,
  invalidInput,
  isStable,
  jsonText,
  metaValue,
  quorum,
  safeChanges,
} from "../../../sdk/js/autopilot-policy.js";

export const ZONE_VOTER = "zone-voter";
export const ZONE_EXTRA_VOTER = "zone-extra-voter";
export const ZONE_STANDBY = "zone-standby";
export const VOTER = "voter";

/** The meta key naming a server's zone: the config extension's `zone_tag`, else `zone`. */
export function zoneTag(config) {
  if (config.ext === null) return "zone";
  let settings;
  try {
    settings = JSON.parse(config.ext);
  } catch (e) {
    throw invalidInput(`config extension is not JSON: ${e.message}`);
  }
  const tag = settings !== null && typeof settings === "object" ? settings.zone_tag : undefined;
  if (tag === undefined || tag === null) return "zone";
  if (typeof tag === "string" && tag !== "") return tag;
  throw invalidInput(`zone_tag must be a non-empty string, not ${JSON.stringify(tag)}`);
}

const votes = (s) => hasVotingRights(s.raftState);

/** Every server's role: node types, promotions, demotions, and the zones. */
export function plan(tag, state) {
  const out = { nodeTypes: new Map(), promotions: [], demotions: [], zones: new Map() };
  const zoned = new Map();
  for (const s of state.servers.values()) {
    const zone = metaValue(s.server, tag);
    if (zone) {
      if (!zoned.has(zone)) zoned.set(zone, []);
      zoned.get(zone).push(s);
    } else {
      // No zone: the stable policy.
      out.nodeTypes.set(s.server.id, VOTER);
      if (s.raftState === RaftState.NON_VOTER && isStable(state, s)) {
        out.promotions.push(s.server.id);
      }
    }
  }

  let lostZones = 0;
  const spare = [];
  const votingStandbys = [];
  for (const zone of [...zoned.keys()].sort(compareIds)) {
    const members = [...zoned.get(zone)];
    out.zones.set(zone, members.map((s) => s.server.id));
    members.sort(compareServers);
    // The zone's voter: its best healthy voter, else its best stable standby.
    const voter =
      members.find((s) => votes(s) && s.health.healthy) ??
      members.find((s) => !votes(s) && isStable(state, s));
    if (voter === undefined) {
      // Lost: nobody can vote for this zone. Its failed voters step down.
      lostZones += 1;
      for (const m of members) {
        out.nodeTypes.set(m.server.id, ZONE_STANDBY);
        if (votes(m) && !m.health.healthy) out.demotions.push(m.server.id);
      }
      continue;
    }
    out.nodeTypes.set(voter.server.id, ZONE_VOTER);
    if (!votes(voter)) out.promotions.push(voter.server.id);
    for (const other of members) {
      if (other.server.id === voter.server.id) continue;
      out.nodeTypes.set(other.server.id, ZONE_STANDBY);
      if (votes(other)) votingStandbys.push(other.server.id);
      if (other.health.healthy && (votes(other) || isStable(state, other))) spare.push(other);
    }
  }

  // Stand-ins for lost zones: healthy standbys of other zones, those already voting
  // first (no churn), then the best.
  spare.sort((a, b) => Number(votes(b)) - Number(votes(a)) || compareServers(a, b));
  for (const standIn of spare.slice(0, lostZones)) {
    out.nodeTypes.set(standIn.server.id, ZONE_EXTRA_VOTER);
    if (!votes(standIn)) out.promotions.push(standIn.server.id);
  }
  // Every other voting standby steps down.
  for (const id of votingStandbys) {
    if (out.nodeTypes.get(id) === ZONE_STANDBY) out.demotions.push(id);
  }
  out.promotions.sort(compareIds);
  out.demotions.sort(compareIds);
  return out;
}

function zoneReport(tag, state, p) {
  const zones = {};
  let healthyServers = 0;
  for (const [zone, ids] of p.zones) {
    const members = ids.map((id) => state.servers.get(id)).filter((s) => s !== undefined);
    const healthy = members.filter((s) => s.health.healthy).length;
    healthyServers += healthy;
    zones[zone] = {
      servers: ids,
      voters: members.filter(votes).map((s) => s.server.id),
      // How many of the zone's servers may fail with the zone still voting.
      failure_tolerance: Math.max(healthy - 1, 0),
    };
  }
  const healthyVoters = state.voters.filter((id) => state.servers.get(id)?.health.healthy).length;
  // Counting standbys that could be promoted to replace failed voters.
  const healthyStandbys = Math.max(healthyServers - p.zones.size, 0);
  return jsonText({
    zone_tag: tag,
    zones,
    optimistic_failure_tolerance: Math.max(
      healthyVoters + healthyStandbys - quorum(state.voters.length),
      0,
    ),
  });
}

/** One voter per zone, the others hot standbys. */
export class RedundancyZones extends Policy {
  constructor() {
    super();
    this.name = "redundancy-zones-js";
    this.version = "0.1.0";
    this.last = null;
  }

  /** The plan for this round's state, made once: the round's steps annotate the
   * state (extensions, node types) but change nothing the plan reads. */
  plan(config, state) {
    const tag = zoneTag(config);
    if (this.last === null || this.last.state !== state || this.last.tag !== tag) {
      this.last = { state, tag, plan: plan(tag, state) };
    }
    return this.last.plan;
  }

  stateExt(config, state) {
    return zoneReport(zoneTag(config), state, this.plan(config, state));
  }

  nodeTypes(config, state) {
    return this.plan(config, state).nodeTypes;
  }

  changes(config, state) {
    const p = this.plan(config, state);
    // A lost zone's failed voter steps down only where the cluster can spare it.
    return safeChanges(config, state, {
      promotions: p.promotions,
      demotions: p.demotions,
      leader: null,
    });
  }

  filterFailedServerRemovals(config, state, failed) {
    const tag = zoneTag(config);
    const sizes = new Map();
    for (const s of state.servers.values()) {
      const zone = metaValue(s.server, tag);
      if (zone !== null) sizes.set(zone, (sizes.get(zone) ?? 0) + 1);
    }
    const lastOfZone = (id) => {
      const s = state.servers.get(id);
      const zone = s === undefined ? null : metaValue(s.server, tag);
      return zone !== null && sizes.get(zone) === 1;
    };
    // Keep the last server of a zone while it could still come back (failed, not
    // left): removing it would leave the zone empty for good.
    const keep = (servers) =>
      servers.filter((s) => s.nodeStatus === NodeStatus.LEFT || !lastOfZone(s.id));
    return {
      ...failed,
      failedVoters: keep(failed.failedVoters),
      failedNonVoters: keep(failed.failedNonVoters),
    };
  }

  isPotentialVoter(nodeType) {
    return nodeType === VOTER || nodeType === ZONE_VOTER || nodeType === ZONE_EXTRA_VOTER;
  }
}

export const policy = exportPolicy(new RedundancyZones());
