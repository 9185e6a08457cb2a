// A policy that reaches for the network: `fetch` in decide (the sandbox denies the
// request), then answers "no changes".
export const policy = {
  metadata() {
    return { name: "fetcher", version: "0.1.0", readsServerDetails: false };
  },
  decide(config, state, judgeNodeTypes) {
    fetch("http://127.0.0.1:9/");
    return {
      serverExt: [], stateExt: undefined, nodeTypeNames: [], nodeTypes: [],
      potentialVoters: judgeNodeTypes.map(() => true),
      changes: { promotions: [], demotions: [], leader: undefined }, wakeAt: undefined,
    };
  },
  filterRemovals(config, state, failed) {
    return { staleNonVoters: [], staleVoters: [], failedNonVoters: [], failedVoters: [] };
  },
};
