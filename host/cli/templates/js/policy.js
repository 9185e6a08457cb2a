// {{name}}: an autopilot placement policy.
//
// Every method of `Policy` defaults to the stable policy; override what differs. This
// one promotes at most one stable non-voter per round (the best first, in the
// reference's order), so the cluster gains one voter at a time.
import { Policy, RaftState, exportPolicy, isStable, sortServers } from "./autopilot-policy.js";

export class {{Type}} extends Policy {
  constructor() {
    super();
    this.name = "{{name}}";
    this.version = "0.1.0";
    // This policy judges health and roles only: the host need not send names,
    // addresses, versions or metadata, and rounds cost less.
    this.readsServerDetails = false;
  }

  changes(config, state) {
    const ready = [];
    for (const [id, s] of state.servers) {
      if (s.raftState === RaftState.NON_VOTER && isStable(state, s)) ready.push(id);
    }
    sortServers(ready, state);
    return { promotions: ready.slice(0, 1), demotions: [], leader: null };
  }
}

// The component's export.
export const policy = exportPolicy(new {{Type}}());
