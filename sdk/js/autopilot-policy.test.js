// Native tests of the SDK: the helpers and the round runner (`node --test`, no wasm).
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  NANOS,
  Policy,
  RaftState,
  Stable,
  StateBuilder,
  decide,
  exportPolicy,
  filterRemovals,
  fromNanos,
  invalidInput,
  plusNanos,
  safeChanges,
  sortServers,
  timestamp,
} from "./autopilot-policy.js";

const NOW = timestamp(1_000_000);
const LONG = 600n * NANOS;
const { LEADER, VOTER, NON_VOTER } = RaftState;
const config = (minQuorum = 3) => ({
  cleanupDeadServers: false,
  lastContactThresholdNs: 0n,
  maxTrailingLogs: 0n,
  minQuorum,
  serverStabilizationTimeNs: 0n,
  ext: null,
});

// Leader a, voters b, c healthy and d unhealthy; non-voters e healthy, f unhealthy.
const cluster = () =>
  new StateBuilder(NOW, 10n * NANOS)
    .server("a", LEADER, true, LONG)
    .server("b", VOTER, true, LONG)
    .server("c", VOTER, true, LONG)
    .server("d", VOTER, false, LONG)
    .server("e", NON_VOTER, true, LONG)
    .server("f", NON_VOTER, false, LONG)
    .build();

test("safeChanges keeps a safe answer whole", () => {
  const changes = { promotions: ["e"], demotions: ["d"], leader: "b" };
  assert.deepEqual(safeChanges(config(), cluster(), changes), changes);
});

test("safeChanges drops what the host would refuse", () => {
  const changes = { promotions: ["b", "e", "f"], demotions: ["a", "b", "c", "d"], leader: "d" };
  // The leader stays; the unhealthy voter goes first; then healthy voters only while
  // three voters with a healthy majority remain (a, c, e after b goes).
  assert.deepEqual(safeChanges(config(), cluster(), changes), {
    promotions: ["e"],
    demotions: ["d", "b"],
    leader: null,
  });
});

test("the reference order puts the leader, then healthy long-stable voters first", () => {
  const state = new StateBuilder(NOW, 10n * NANOS)
    .server("v-new", VOTER, true, 5n * NANOS)
    .server("v-old", VOTER, true, LONG)
    .server("v-sick", VOTER, false, LONG)
    .server("v-sick-new", VOTER, false, 5n * NANOS)
    .server("z-lead", LEADER, true, 1n)
    .server("a-nv", NON_VOTER, true, LONG)
    .build();
  const ids = sortServers([...state.servers.keys()], state);
  assert.deepEqual(ids, ["z-lead", "v-old", "v-new", "v-sick-new", "v-sick", "a-nv"]);
  assert.deepEqual(state.voters, ids.slice(0, 5));
  assert.equal(state.failureTolerance, 0);
});

test("the stable defaults promote stable non-voters and wake for the next", () => {
  const state = new StateBuilder(NOW, 10n * NANOS)
    .server("a", LEADER)
    .server("b", NON_VOTER, true, 11n * NANOS)
    .server("c", NON_VOTER, true, 4n * NANOS)
    .server("d", NON_VOTER, false, LONG)
    .build();
  const d = decide(new Stable(), config(), state, ["voter", "other"]);
  assert.deepEqual(d.changes, { promotions: ["b"], demotions: [], leader: null });
  assert.deepEqual([...d.nodeTypes.values()], ["voter", "voter", "voter", "voter"]);
  assert.deepEqual(d.potentialVoterTypes, ["voter"]);
  assert.deepEqual(d.wakeAt, plusNanos(NOW, 6n * NANOS));
});

test("decide applies each step before the next and clears unread details", () => {
  const seen = {};
  class Annotating extends Policy {
    constructor() {
      super();
      this.readsServerDetails = false;
    }
    serverExt(config, s) {
      seen.meta = s.server.meta;
      return '{"n":1}';
    }
    stateExt(config, state) {
      seen.serverExt = state.servers.get("a").server.ext;
      return '"s"';
    }
    nodeTypes(config, state) {
      seen.stateExt = state.ext;
      return new Map([["a", "special"]]);
    }
    changes(config, state) {
      seen.nodeType = state.servers.get("a").server.nodeType;
      return { promotions: [], demotions: [], leader: null };
    }
  }
  const state = new StateBuilder(NOW, 0n).server("a", LEADER).meta("a", "zone", "z1").build();
  const d = decide(new Annotating(), config(), state);
  assert.deepEqual(seen, { meta: null, serverExt: '{"n":1}', stateExt: '"s"', nodeType: "special" });
  assert.deepEqual(Object.fromEntries(d.serverExt), { a: '{"n":1}' });
  assert.equal(d.stateExt, '"s"');
});

test("errors throw with the contract's payload; removals default to all", () => {
  class Picky extends Policy {
    changes() {
      throw invalidInput("no");
    }
  }
  assert.throws(
    () => decide(new Picky(), config(), cluster()),
    (e) => e.payload.tag === "invalid-input" && e.payload.val === "no",
  );
  const failed = { staleNonVoters: [], staleVoters: ["x"], failedNonVoters: [], failedVoters: [] };
  assert.deepEqual(filterRemovals(new Stable(), config(), cluster(), failed), failed);
});

test("timestamps keep nanoseconds in range", () => {
  assert.deepEqual(plusNanos(timestamp(10, 5), -6n), { seconds: 9n, nanos: 999_999_999 });
  assert.deepEqual(fromNanos(-1n), { seconds: -1n, nanos: 999_999_999 });
});

// The contract's values as a toolchain hands them over: 64-bit integers as `bigint`
// (componentize-js) or as `number` (componentize-qjs).
function witState(wide) {
  const server = (id, raftState, since) => ({
    server: { id, nodeStatus: "alive", raftVersion: wide(3), isLeader: raftState === "leader",
      nodeType: "", ext: undefined, details: undefined },
    raftState,
    stats: { lastContactNs: wide(0), lastTerm: wide(2), lastIndex: wide(100) },
    health: { healthy: true, stableSince: { seconds: wide(since), nanos: 0 } },
  });
  return {
    healthy: true,
    failureTolerance: 0,
    servers: [server("a", "leader", 100), server("b", "non-voter", 995), server("c", "non-voter", 980)],
    leader: "a",
    voters: ["a"],
    ext: undefined,
    now: { seconds: wide(1000), nanos: 0 },
    firstStateTime: { seconds: wide(0), nanos: 0 },
    effectiveStabilizationNs: wide(10_000_000_000),
  };
}

test("the component glue takes and gives 64-bit integers in the toolchain's kind", () => {
  for (const wide of [BigInt, Number]) {
    const config = { cleanupDeadServers: true, lastContactThresholdNs: wide(1), maxTrailingLogs: wide(10),
      minQuorum: 3, serverStabilizationTimeNs: wide(10_000_000_000), ext: undefined };
    const d = exportPolicy(new Stable()).decide(config, witState(wide), ["voter", "other"]);
    // c has been stable for 20 s of 10: promoted (index 2); b becomes stable at 1005.
    assert.deepEqual(d.changes, { promotions: [2], demotions: [], leader: undefined });
    assert.deepEqual(d.wakeAt, { seconds: wide(1005), nanos: 0 });
    assert.deepEqual(d.potentialVoters, [true, false]);
    assert.deepEqual(d.nodeTypeNames, ["voter"]);
    assert.deepEqual(d.nodeTypes, [[0, 0], [1, 0], [2, 0]]);
  }
});
