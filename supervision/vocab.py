"""Words shared by the models, the services and every front end, defined once.

No imports from the rest of the package: models, services, API schemas and the console all
import from here, so a severity or a flag state added later is added in one place.
"""

from __future__ import annotations

from typing import Literal

# Most to least serious: the order of every list, count and chart of flags.
SEVERITIES = ("critical", "high", "medium", "low")
Severity = Literal["critical", "high", "medium", "low"]
SEVERITY_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}

# Flags still needing someone's attention (what "open flags" counts everywhere, the public
# profile included).
OUTSTANDING_FLAG_STATUSES = ("open", "acknowledged", "rectification_ordered",
                             "rectification_submitted")
# What the engine may clear when a condition is no longer found: once a regulator has ordered
# rectification, the flag waits for the institution and the regulator, not for the engine.
CLEARABLE_FLAG_STATUSES = ("open", "acknowledged")
CLOSED_FLAG_STATUSES = ("resolved", "dismissed", "cleared")
FLAG_STATUSES = OUTSTANDING_FLAG_STATUSES + CLOSED_FLAG_STATUSES
