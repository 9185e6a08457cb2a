"""The component's entry point: componentize-py builds this module."""

from autopilot_policy import export
from policy import {{Type}}

Policy = export({{Type}}())
