// Native tests of the JavaScript redundancy-zones policy (`node --test`, no wasm).
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  NANOS,
  NodeStatus,
  RaftState,
  StateBuilder,
  decide,
  timestamp,
} from "../../../sdk/js/autopilot-policy.js";
import { RedundancyZones } from "./policy.js";

const NOW = timestamp(1_000_000);
const LONG = 600n * NANOS;
const { LEADER: L, VOTER: V, NON_VOTER: N } = RaftState;

function zoned(rows) {
  const b = new StateBuilder(NOW, 10n * NANOS);
  for (const [id, role, healthy, zone] of rows) {
    b.server(id, role, healthy, LONG);
    if (zone) b.meta(id, "zone", zone);
  }
  return b.build();
}

const config = (ext = null) => ({
  cleanupDeadServers: true,
  lastContactThresholdNs: 0n,
  maxTrailingLogs: 0n,
  minQuorum: 3,
  serverStabilizationTimeNs: 10n * NANOS,
  ext,
});

const run = (state, ext) => decide(new RedundancyZones(), config(ext), state);

test("one voter per zone and the rest standbys", () => {
  const d = run(
    zoned([
      ["a1", L, true, "a"],
      ["a2", N, true, "a"],
      ["b1", V, true, "b"],
      ["b2", N, true, "b"],
      ["c1", V, true, "c"],
    ]),
  );
  assert.deepEqual(Object.fromEntries(d.nodeTypes), {
    a1: "zone-voter",
    a2: "zone-standby",
    b1: "zone-voter",
    b2: "zone-standby",
    c1: "zone-voter",
  });
  assert.deepEqual(d.changes, { promotions: [], demotions: [], leader: null });
});

test("a failed zone voter is replaced by its standby", () => {
  const d = run(
    zoned([
      ["a1", L, true, "a"],
      ["b1", V, true, "b"],
      ["c1", V, false, "c"],
      ["c2", N, true, "c"],
    ]),
  );
  assert.deepEqual(d.changes.promotions, ["c2"]);
  assert.deepEqual(d.changes.demotions, ["c1"]);
  assert.equal(d.nodeTypes.get("c2"), "zone-voter");
});

test("a lost zone is stood in for by another zone's standby", () => {
  const d = run(
    zoned([
      ["a1", L, true, "a"],
      ["a2", N, true, "a"],
      ["b1", V, true, "b"],
      ["c1", V, false, "c"],
    ]),
  );
  assert.equal(d.nodeTypes.get("a2"), "zone-extra-voter");
  assert.deepEqual(d.changes.promotions, ["a2"]);
});

test("servers without a zone follow the stable policy", () => {
  const d = run(
    zoned([
      ["a", L, true, null],
      ["b", V, true, null],
      ["c", N, true, null],
    ]),
  );
  assert.deepEqual(d.changes.promotions, ["c"]);
  assert.deepEqual(new Set(d.nodeTypes.values()), new Set(["voter"]));
});

test("the zone meta key is configurable and checked", () => {
  const state = new StateBuilder(NOW, 0n)
    .server("a", L)
    .server("b", N)
    .meta("a", "rack", "r1")
    .meta("b", "rack", "r1")
    .build();
  const d = run(state, '{"zone_tag":"rack"}');
  assert.deepEqual(Object.fromEntries(d.nodeTypes), { a: "zone-voter", b: "zone-standby" });
  assert.match(d.stateExt, /"zone_tag":"rack"/);
  for (const bad of ['{"zone_tag":7}', "not json"]) {
    assert.throws(
      () => run(zoned([["a", L, true, null]]), bad),
      (e) => e.kind === "invalid-input",
    );
  }
});

test("the last server of a zone is kept unless it left", () => {
  const state = zoned([
    ["a1", L, true, "a"],
    ["b1", V, true, "b"],
    ["c1", V, false, "c"],
    ["d1", V, false, "d"],
  ]);
  const c1 = state.servers.get("c1").server;
  const d1 = state.servers.get("d1").server;
  d1.nodeStatus = NodeStatus.LEFT;
  const kept = new RedundancyZones().filterFailedServerRemovals(config(), state, {
    staleNonVoters: [],
    staleVoters: [],
    failedNonVoters: [],
    failedVoters: [c1, d1],
  });
  assert.deepEqual(
    kept.failedVoters.map((s) => s.id),
    ["d1"],
  );
});
