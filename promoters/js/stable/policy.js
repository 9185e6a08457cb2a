// The stable policy in JavaScript, on the SDK's defaults: every server a voter, promote
// each healthy non-voter once it has been healthy for the stabilization time, allow
// every removal.
import { Stable, exportPolicy } from "../../../sdk/js/autopilot-policy.js";

class StableJs extends Stable {
  constructor() {
    super();
    this.name = "stable-js";
    this.version = "0.1.0";
  }
}

export const policy = exportPolicy(new StableJs());
