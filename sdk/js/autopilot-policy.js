// The autopilot policy SDK for JavaScript.
//
// A policy is a subclass of `Policy` that overrides only what differs from the stable
// policy (every method's default is the stable policy's). `decide` runs one round the
// way the host's `decide` call does, so a policy is unit-tested natively (`node --test`,
// no wasm); `exportPolicy` turns it into the component's `policy` export for
// componentize-js:
//
//   // policy.js
//   import { Policy, exportPolicy } from "./autopilot-policy.js";
//   export class MyPolicy extends Policy { ... }
//   export const policy = exportPolicy(new MyPolicy());
//
// Build with `autopilot policy build` (or componentize-js directly:
// `componentize-js policy.js --wit wit --world-name promoter -o policy.wasm`).
//
// Types mirror the Rust SDK's (`autopilot-sdk`) in JavaScript's spelling. 64-bit
// integers are `bigint` (timestamps' seconds, durations in nanoseconds, log figures),
// as the component model gives them; absent values are `null`. A policy must be a pure
// function of its input: read the time from `state.now`, never `Date`. This module
// imports nothing, so it can be copied into a policy's project as it is
// (`autopilot policy new` does).

/** Nanoseconds in a second. */
export const NANOS = 1_000_000_000n;

/** The node type the stable policy gives every server. */
export const VOTER = "voter";

/** Roles, as the contract spells them. */
export const RaftState = Object.freeze({
  NONE: "none",
  LEADER: "leader",
  VOTER: "voter",
  NON_VOTER: "non-voter",
  STAGING: "staging",
});

/** What the application believes about a server. */
export const NodeStatus = Object.freeze({
  UNKNOWN: "unknown",
  ALIVE: "alive",
  FAILED: "failed",
  LEFT: "left",
});

// ---------------------------------------------------------------------------------
// Time: a timestamp is `{ seconds: bigint, nanos: number }` since the Unix epoch.

/** Nanoseconds since the epoch of a timestamp, as a bigint. */
export const toNanos = (t) => BigInt(t.seconds) * NANOS + BigInt(t.nanos);

/** The timestamp `total` (bigint) nanoseconds after the epoch (negative: before). */
export function fromNanos(total) {
  let seconds = total / NANOS;
  let nanos = total % NANOS;
  if (nanos < 0n) {
    seconds -= 1n;
    nanos += NANOS;
  }
  return { seconds, nanos: Number(nanos) };
}

/** A timestamp from whole seconds since the epoch. */
export const timestamp = (seconds, nanos = 0) => ({ seconds: BigInt(seconds), nanos });

/** `t` moved by `nanos` (a bigint, maybe negative). */
export const plusNanos = (t, nanos) => fromNanos(toNanos(t) + BigInt(nanos));

/** -1, 0 or 1 as `a` is before, at or after `b` (no arithmetic: policies sort by it). */
export function compareTimestamps(a, b) {
  if (a.seconds !== b.seconds) return a.seconds < b.seconds ? -1 : 1;
  return a.nanos < b.nanos ? -1 : a.nanos > b.nanos ? 1 : 0;
}

// ---------------------------------------------------------------------------------
// Helpers every policy needs.

/** Leader or voter. */
export const hasVotingRights = (raftState) =>
  raftState === RaftState.LEADER || raftState === RaftState.VOTER;

/** A server's metadata value, `null` when absent (or when details are not read). */
export const metaValue = (server, key) =>
  server.meta != null && Object.hasOwn(server.meta, key) ? server.meta[key] : null;

/** Healthy, and healthy for at least the effective stabilization time at `state.now`. */
export const isStable = (state, s) =>
  s.health.healthy &&
  toNanos(state.now) - toNanos(s.health.stableSince) >= BigInt(state.effectiveStabilizationNs);

/** The first instant after `state.now` at which a healthy non-voter will have been
 * healthy for `windowNs` (bigint); `null` when no healthy non-voter is waiting. */
export function nextStableAfter(state, windowNs) {
  const now = toNanos(state.now);
  let best = null;
  for (const s of state.servers.values()) {
    if (!s.health.healthy || s.raftState !== RaftState.NON_VOTER) continue;
    const at = toNanos(s.health.stableSince) + BigInt(windowNs);
    if (at > now && (best === null || at < best)) best = at;
  }
  return best === null ? null : fromNanos(best);
}

/** Voters needed for a quorum of `voters`. */
export const quorum = (voters) => Math.floor(voters / 2) + 1;

/** How many of `voters` may fail with a quorum of `healthyVoters` left. */
export const failureTolerance = (voters, healthyVoters) =>
  Math.max(healthyVoters - quorum(voters), 0);

/** Compares ids as the host does (by code unit, which for ids is by byte). */
export const compareIds = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

const rank = (s) => (s.raftState === RaftState.LEADER ? 0 : s.raftState === RaftState.VOTER ? 1 : 2);

/** The reference's order: leader, then voters, healthy before unhealthy, longer stable
 * first among healthy (shorter unhealthy first among unhealthy), then id. */
export function compareServers(a, b) {
  if (rank(a) !== rank(b)) return rank(a) - rank(b);
  if (a.health.healthy !== b.health.healthy) return a.health.healthy ? -1 : 1;
  const byTime = compareTimestamps(a.health.stableSince, b.health.stableSince);
  if (byTime !== 0) return a.health.healthy ? byTime : -byTime;
  return compareIds(a.server.id, b.server.id);
}

/** Sorts ids of the state's servers in the reference's order (unknown ids last). */
export function sortServers(ids, state) {
  return ids.sort((a, b) => {
    const x = state.servers.get(a);
    const y = state.servers.get(b);
    if (x && y) return compareServers(x, y);
    if (x) return -1;
    if (y) return 1;
    return compareIds(a, b);
  });
}

/** `changes` cut down to what the host's safety rules accept, so a policy whose plan
 * would go too far in some cluster still gets its safe part through (the host refuses
 * an unsafe answer whole). It drops a demotion of the leader; promotions of servers
 * that are not healthy, alive non-voters (or staging); demotions, unhealthy voters
 * first, beyond those that leave at least `config.minQuorum` voters (promotions
 * counted) of whom the healthy ones are a majority; a leader that is not a healthy
 * voter. */
export function safeChanges(config, state, changes) {
  const server = (id) => state.servers.get(id);
  const promotions = changes.promotions.filter((id) => {
    const s = server(id);
    return (
      s !== undefined &&
      (s.raftState === RaftState.NON_VOTER || s.raftState === RaftState.STAGING) &&
      s.health.healthy &&
      s.server.nodeStatus === NodeStatus.ALIVE
    );
  });
  const votes = (id) => server(id) !== undefined && hasVotingRights(server(id).raftState);
  const healthy = (id) => server(id) !== undefined && server(id).health.healthy;
  // Unhealthy voters first: demoting them can only help the healthy majority (a stable
  // sort keeps the policy's order otherwise).
  const candidates = changes.demotions
    .filter((id) => state.leader !== id)
    .map((id, i) => [id, votes(id) && healthy(id) ? 1 : 0, i])
    .sort((a, b) => a[1] - b[1] || a[2] - b[2])
    .map(([id]) => id);
  let remaining = [...new Set([...state.voters, ...promotions])].sort(compareIds);
  const demotions = [];
  for (const id of candidates) {
    if (!votes(id)) {
      demotions.push(id);
      continue;
    }
    const after = remaining.filter((r) => r !== id);
    const healthyAfter = after.filter(healthy).length;
    if (after.length >= config.minQuorum && healthyAfter >= quorum(after.length)) {
      remaining = after;
      demotions.push(id);
    }
  }
  let leader = changes.leader ?? null;
  if (leader !== null && !(state.leader === leader || (votes(leader) && healthy(leader)))) {
    leader = null;
  }
  return { promotions, demotions, leader };
}

/** The stable policy's changes: every stable non-voter, in id order. */
export function stableChanges(state) {
  const promotions = [];
  for (const [id, s] of state.servers) {
    if (s.raftState === RaftState.NON_VOTER && isStable(state, s)) promotions.push(id);
  }
  return { promotions, demotions: [], leader: null };
}

/** JSON text with object keys sorted and no spaces (what `serde_json` writes for a
 * map), so the same value gives the same text in every language. */
export function jsonText(value) {
  const sorted = (v) => {
    if (Array.isArray(v)) return v.map(sorted);
    if (v !== null && typeof v === "object") {
      const out = {};
      for (const k of Object.keys(v).sort(compareIds)) out[k] = sorted(v[k]);
      return out;
    }
    return v;
  };
  return JSON.stringify(sorted(value));
}

// ---------------------------------------------------------------------------------
// Errors.

/** An expected failure: throw `invalidInput(...)` or `internal(...)`, and the host
 * reports it as the policy's fault and takes the stable policy's decision. */
export class PolicyError extends Error {
  /** `kind` is `"invalid-input"` or `"internal"`. */
  constructor(kind, message) {
    super(message);
    this.kind = kind;
    // What componentize-js returns as the call's error value.
    this.payload = { tag: kind, val: message };
  }
}

/** The input does not suit the policy (for example malformed settings). */
export const invalidInput = (message) => new PolicyError("invalid-input", message);

/** The policy could not decide. */
export const internal = (message) => new PolicyError("internal", message);

// ---------------------------------------------------------------------------------
// The policy and its round.

/** A placement policy. Override only what differs from the stable policy; set `name`
 * and `version`. */
export class Policy {
  constructor() {
    /** The policy's name, as the host reports it. */
    this.name = "unnamed";
    /** The policy's version. */
    this.version = "0.0.0";
    /** Whether the policy reads servers' names, addresses, versions and metadata. When
     * false the host does not send them and each round is cheaper; `decide` clears them
     * the same way, so native tests see what the component will. */
    this.readsServerDetails = true;
  }

  /** Extension data (JSON text) for one server; `null` leaves it unchanged. */
  serverExt(config, server) {
    return null;
  }

  /** Extension data (JSON text) for the state; `null` leaves it unchanged. */
  stateExt(config, state) {
    return null;
  }

  /** Each server's node type, as a `Map` from id. Stable: `voter` for everyone. */
  nodeTypes(config, state) {
    return new Map([...state.servers.keys()].map((id) => [id, VOTER]));
  }

  /** `{ promotions, demotions, leader }`. Stable: every stable non-voter. */
  changes(config, state) {
    return stableChanges(state);
  }

  /** Which failed and stale servers may be removed. Stable: all of them. */
  filterFailedServerRemovals(config, state, failed) {
    return failed;
  }

  /** Whether servers of this node type count as potential voters. Stable: `voter`. */
  isPotentialVoter(nodeType) {
    return nodeType === VOTER;
  }

  /** When the answer could next change with no new input (the host runs a round then).
   * Stable: when the next healthy non-voter becomes stable. */
  wakeAt(config, state) {
    return nextStableAfter(state, state.effectiveStabilizationNs);
  }
}

/** The stable policy, every default. */
export class Stable extends Policy {
  constructor() {
    super();
    this.name = "stable";
    this.version = "0.1.0";
    this.readsServerDetails = false;
  }
}

function withoutDetails(server) {
  server.name = "";
  server.address = "";
  server.version = "";
  server.meta = null;
}

/** Runs one round of `policy` as the host's `decide` call does: each server's
 * extension, the state extension, node types (each step seeing the previous ones
 * applied), then the changes on the annotated state, the wake-up time, and the
 * potential-voter verdicts for `judgeNodeTypes`. `state` is annotated in place. Throws
 * the policy's `PolicyError`. */
export function decide(policy, config, state, judgeNodeTypes = []) {
  if (!policy.readsServerDetails) {
    for (const s of state.servers.values()) withoutDetails(s.server);
  }
  const serverExt = new Map();
  for (const [id, s] of state.servers) {
    const ext = policy.serverExt(config, s) ?? null;
    if (ext !== null) {
      s.server.ext = ext;
      serverExt.set(id, ext);
    }
  }
  const stateExt = policy.stateExt(config, state) ?? null;
  if (stateExt !== null) state.ext = stateExt;
  const nodeTypes = new Map(policy.nodeTypes(config, state));
  for (const [id, nodeType] of nodeTypes) {
    const s = state.servers.get(id);
    if (s) s.server.nodeType = nodeType;
  }
  const changes = policy.changes(config, state);
  return {
    serverExt,
    stateExt,
    nodeTypes,
    changes: {
      promotions: changes.promotions ?? [],
      demotions: changes.demotions ?? [],
      leader: changes.leader ?? null,
    },
    wakeAt: policy.wakeAt(config, state) ?? null,
    potentialVoterTypes: judgeNodeTypes.filter((t) => policy.isPotentialVoter(t)),
  };
}

/** Runs the policy's removal filter as the host's `filter-removals` call does. */
export function filterRemovals(policy, config, state, failed) {
  if (!policy.readsServerDetails) {
    for (const s of state.servers.values()) withoutDetails(s.server);
    for (const s of [...failed.failedNonVoters, ...failed.failedVoters]) withoutDetails(s);
  }
  return policy.filterFailedServerRemovals(config, state, failed);
}

// ---------------------------------------------------------------------------------
// Native tests.

/** A server record with the given id (and address `id:8300`), alive. */
export const server = (id) => ({
  id,
  name: "",
  address: `${id}:8300`,
  nodeStatus: NodeStatus.ALIVE,
  version: "",
  meta: null,
  raftVersion: 3n,
  isLeader: false,
  nodeType: "",
  ext: null,
});

/** Builds a state server by server for native tests; `build` derives the summary
 * (health, leader, voters best first, failure tolerance). */
export class StateBuilder {
  /** An empty state at `now` with `effectiveStabilizationNs` (bigint) in force. */
  constructor(now, effectiveStabilizationNs) {
    this.state = {
      now,
      servers: new Map(),
      healthy: true,
      failureTolerance: 0,
      leader: null,
      voters: [],
      ext: null,
      firstStateTime: plusNanos(now, -3600n * NANOS),
      effectiveStabilizationNs: BigInt(effectiveStabilizationNs),
    };
  }

  /** Adds a server in `raftState`, healthy (or not) for `stableForNs` (bigint). */
  server(id, raftState, healthy = true, stableForNs = 3600n * NANOS) {
    this.state.servers.set(id, {
      server: server(id),
      raftState,
      stats: { lastContactNs: 0n, lastTerm: 0n, lastIndex: 0n },
      health: { healthy, stableSince: plusNanos(this.state.now, -BigInt(stableForNs)) },
    });
    return this;
  }

  /** Sets a metadata entry on a server. */
  meta(id, key, value) {
    const s = this.state.servers.get(id).server;
    s.meta = { ...(s.meta ?? {}), [key]: value };
    return this;
  }

  /** Marks a server failed (not alive, unhealthy). */
  failed(id) {
    const s = this.state.servers.get(id);
    s.server.nodeStatus = NodeStatus.FAILED;
    s.health.healthy = false;
    return this;
  }

  /** The state, servers in id order, with its summary derived. */
  build() {
    const state = this.state;
    state.servers = new Map([...state.servers].sort(([a], [b]) => compareIds(a, b)));
    const all = [...state.servers.values()];
    state.healthy = all.every((s) => s.health.healthy);
    const leader = all.find((s) => s.raftState === RaftState.LEADER);
    state.leader = leader ? leader.server.id : null;
    if (leader) leader.server.isLeader = true;
    const voters = all.filter((s) => hasVotingRights(s.raftState)).map((s) => s.server.id);
    sortServers(voters, state);
    const healthy = voters.filter((id) => state.servers.get(id).health.healthy).length;
    state.failureTolerance = failureTolerance(voters.length, healthy);
    state.voters = voters;
    return state;
  }
}

// ---------------------------------------------------------------------------------
// The component glue: the toolchain's values to the SDK's and back. componentize-js
// (SpiderMonkey) gives 64-bit integers as `bigint`, componentize-qjs (QuickJS) as
// `number`: the SDK takes either and always hands the policy `bigint`s, and answers in
// the kind the toolchain gave, so one policy builds with both.

const NO_SERVER = 0xffffffff;

const time = (t) => ({ seconds: BigInt(t.seconds), nanos: t.nanos });

const configFrom = (c) => ({
  cleanupDeadServers: c.cleanupDeadServers,
  lastContactThresholdNs: BigInt(c.lastContactThresholdNs),
  maxTrailingLogs: BigInt(c.maxTrailingLogs),
  minQuorum: c.minQuorum,
  serverStabilizationTimeNs: BigInt(c.serverStabilizationTimeNs),
  ext: c.ext ?? null,
});

function serverFrom(s) {
  const d = s.details;
  let meta = null;
  if (d && d.meta) {
    meta = Object.create(null);
    for (const [k, v] of d.meta) meta[k] = v;
  }
  return {
    id: s.id,
    name: d ? d.name : "",
    address: d ? d.address : "",
    nodeStatus: s.nodeStatus,
    version: d ? d.version : "",
    meta,
    raftVersion: BigInt(s.raftVersion),
    isLeader: s.isLeader,
    nodeType: s.nodeType,
    ext: s.ext ?? null,
  };
}

function stateFrom(s) {
  const servers = new Map();
  for (const x of s.servers) {
    const server = serverFrom(x.server);
    servers.set(server.id, {
      server,
      raftState: x.raftState,
      stats: {
        lastContactNs: BigInt(x.stats.lastContactNs),
        lastTerm: BigInt(x.stats.lastTerm),
        lastIndex: BigInt(x.stats.lastIndex),
      },
      health: { healthy: x.health.healthy, stableSince: time(x.health.stableSince) },
    });
  }
  return {
    now: time(s.now),
    servers,
    healthy: s.healthy,
    failureTolerance: s.failureTolerance,
    leader: s.leader ?? null,
    voters: [...s.voters],
    ext: s.ext ?? null,
    firstStateTime: time(s.firstStateTime),
    effectiveStabilizationNs: BigInt(s.effectiveStabilizationNs),
  };
}

function indices(order) {
  const at = new Map(order.map((id, i) => [id, i]));
  return (ids) => ids.map((id) => at.get(id) ?? NO_SERVER);
}

/** The component's `policy` export for `policy`: in the module given to
 * componentize-js, write `export const policy = exportPolicy(new MyPolicy());`. */
export function exportPolicy(policy) {
  return {
    metadata() {
      return {
        name: policy.name,
        version: policy.version,
        readsServerDetails: Boolean(policy.readsServerDetails),
      };
    },
    decide(config, state, judgeNodeTypes) {
      // A `PolicyError` thrown here becomes the call's `policy-error` (its `payload`);
      // anything else traps, and the host reports the trap.
      const s = stateFrom(state);
      const d = decide(policy, configFrom(config), s, judgeNodeTypes);
      const at = indices([...s.servers.keys()]);
      const names = new Map();
      const nodeTypes = [];
      for (const [id, nodeType] of d.nodeTypes) {
        if (!names.has(nodeType)) names.set(nodeType, names.size);
        nodeTypes.push([at([id])[0], names.get(nodeType)]);
      }
      const c = d.changes;
      const wake = d.wakeAt;
      // 64-bit answers in the kind this toolchain uses.
      const wide = typeof state.now.seconds === "bigint" ? BigInt : Number;
      return {
        serverExt: [...d.serverExt].map(([id, ext]) => [at([id])[0], ext]),
        stateExt: d.stateExt ?? undefined,
        nodeTypeNames: [...names.keys()],
        nodeTypes,
        potentialVoters: judgeNodeTypes.map((t) => d.potentialVoterTypes.includes(t)),
        changes: {
          promotions: at(c.promotions),
          demotions: at(c.demotions),
          leader: c.leader === null ? undefined : at([c.leader])[0],
        },
        wakeAt: wake === null ? undefined : { seconds: wide(wake.seconds), nanos: wake.nanos },
      };
    },
    filterRemovals(config, state, failed) {
      const offered = {
        staleNonVoters: [...failed.staleNonVoters],
        staleVoters: [...failed.staleVoters],
        failedNonVoters: failed.failedNonVoters.map(serverFrom),
        failedVoters: failed.failedVoters.map(serverFrom),
      };
      // The policy gets lists of its own: the offered ones index the answer.
      const kept = filterRemovals(policy, configFrom(config), stateFrom(state), {
        staleNonVoters: [...offered.staleNonVoters],
        staleVoters: [...offered.staleVoters],
        failedNonVoters: [...offered.failedNonVoters],
        failedVoters: [...offered.failedVoters],
      });
      const ids = (servers) => servers.map((s) => s.id);
      return {
        staleNonVoters: indices(offered.staleNonVoters)(kept.staleNonVoters),
        staleVoters: indices(offered.staleVoters)(kept.staleVoters),
        failedNonVoters: indices(ids(offered.failedNonVoters))(ids(kept.failedNonVoters)),
        failedVoters: indices(ids(offered.failedVoters))(ids(kept.failedVoters)),
      };
    },
  };
}
