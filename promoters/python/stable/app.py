"""The stable policy in Python, on the SDK's defaults: every server a voter, promote
each healthy non-voter once it has been healthy for the stabilization time, allow every
removal."""

from autopilot_policy import Stable, export


class StablePy(Stable):
    name = "stable-py"
    version = "0.1.0"


Policy = export(StablePy())
