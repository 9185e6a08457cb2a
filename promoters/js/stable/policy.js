// The stable policy in JavaScript: every server a voter, promote each healthy
// non-voter once it has been healthy for the stabilization time, allow every removal.
const VOTER = "voter";
const NANOS = 1_000_000_000n;

const nanos = (t) => BigInt(t.seconds) * NANOS + BigInt(t.nanos);
const stable = (state, s) =>
  s.health.healthy &&
  nanos(state.now) - nanos(s.health.stableSince) >= BigInt(state.effectiveStabilizationNs);

function nextStableAfter(state) {
  const now = nanos(state.now);
  let best;
  for (const s of state.servers) {
    if (!s.health.healthy || s.raftState !== "non-voter") continue;
    const at = nanos(s.health.stableSince) + BigInt(state.effectiveStabilizationNs);
    if (at > now && (best === undefined || at < best)) best = at;
  }
  if (best === undefined) return undefined;
  return { seconds: best / NANOS, nanos: Number(best % NANOS) };
}

export const policy = {
  metadata() {
    return { name: "stable-js", version: "0.1.0", readsServerDetails: false };
  },
  decide(config, state, judgeNodeTypes) {
    const promotions = [];
    state.servers.forEach((s, i) => {
      if (s.raftState === "non-voter" && stable(state, s)) promotions.push(i);
    });
    return {
      serverExt: [],
      stateExt: undefined,
      nodeTypeNames: [VOTER],
      nodeTypes: state.servers.map((_, i) => [i, 0]),
      potentialVoters: judgeNodeTypes.map((t) => t === VOTER),
      changes: { promotions, demotions: [], leader: undefined },
      wakeAt: nextStableAfter(state),
    };
  },
  filterRemovals(config, state, failed) {
    const all = (list) => list.map((_, i) => i);
    return {
      staleNonVoters: all(failed.staleNonVoters),
      staleVoters: all(failed.staleVoters),
      failedNonVoters: all(failed.failedNonVoters),
      failedVoters: all(failed.failedVoters),
    };
  },
};
