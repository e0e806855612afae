"""Who may do what: decided here, once, and asked by the services.

The API, the console, the command line and the scheduler all reach the same service functions,
so a check made in a view protects one front end and silently leaves the others open (the
console once saved calendar changes the API refused). A service asks one of these functions
before it writes anything; the caller is the service's explicit `actor` argument.

Scoping (which objects an allowed caller sees) stays in `scope.py`: out of scope is 404 there,
while these functions answer 403, "your role may not do this at all", whatever the id.

The system actors (the scheduler, the command line: role "system") act for the city as a whole
and pass every check here.
"""

from __future__ import annotations

from ..errors import Forbidden
from .scope import Actor

SYSTEM_ROLE = "system"


def is_citywide_regulator(actor: Actor) -> bool:
    """A regulator of the whole city (no district), or the system acting for the city."""
    if actor.role == SYSTEM_ROLE:
        return True
    return actor.role == "regulator" and actor.district_code is None


def require_role(actor: Actor, *roles: str) -> None:
    """Only these roles (and the system) may do this; anyone else gets Forbidden."""
    if actor.role != SYSTEM_ROLE and actor.role not in roles:
        raise Forbidden(f"role {actor.role} may not do this")


def require_citywide_regulator(actor: Actor, what: str) -> None:
    """City-wide data and city-wide judgements (the calendar, the school years, the rosters,
    compliance runs) belong to the city's bureau: a district bureau may read them, not change
    them, because its change would apply to every other district too (API.md §3, §5)."""
    require_role(actor, "regulator")
    if not is_citywide_regulator(actor):
        raise Forbidden(f"only a city-wide regulator may {what}")
