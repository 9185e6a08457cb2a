"""The component's entry point (componentize-py's app module)."""

from autopilot_policy import export
from policy import RedundancyZones

Policy = export(RedundancyZones())
