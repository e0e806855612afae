"""Moved to tests/support/escrow_world.py (Party and party to tests/support/parties.py); kept
for tests being written (the lead removes it)."""

from .support.escrow_world import World, world
from .support.parties import Party, party

__all__ = ["Party", "World", "party", "world"]
