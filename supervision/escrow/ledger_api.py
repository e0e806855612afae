"""What the trustee side (trustee.py, statements.py) may call of the ledger: the fixed
interface between the two halves of escrow."""

from .deposits import apply_deposit
from .instructions import instruction_executed, instruction_failed
from .views import custody_balance

__all__ = ["apply_deposit", "custody_balance", "instruction_executed", "instruction_failed"]
