// Native tests of {{name}} (`node --test`, no wasm).
import assert from "node:assert/strict";
import { test } from "node:test";

import { NANOS, RaftState, StateBuilder, decide, timestamp } from "./autopilot-policy.js";
import { {{Type}} } from "./policy.js";

test("promotes one stable non-voter per round, the longest stable first", () => {
  const state = new StateBuilder(timestamp(1_000_000), 10n * NANOS)
    .server("a", RaftState.LEADER, true, 600n * NANOS)
    .server("b", RaftState.NON_VOTER, true, 60n * NANOS)
    .server("c", RaftState.NON_VOTER, true, 120n * NANOS)
    .server("d", RaftState.NON_VOTER, true, 5n * NANOS)
    .build();
  const config = { minQuorum: 3, ext: null };
  assert.deepEqual(decide(new {{Type}}(), config, state).changes.promotions, ["c"]);
});
