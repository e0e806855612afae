"""Escrow (API.md §4, RULES.md §3): enrollments, the double-entry ledger, consumption,
refunds, releases. The trustee side (events in, instructions out) is trustee.py, statements and
reconciliation are statements/; the stand-in trustee for demos is devtools/trustee_sandbox.py."""

from .consumption import (
    auto_confirm_due,
    confirm_consumption,
    dispute_consumption,
    record_attendance,
)
from .deposits import apply_deposit
from .enrollments import create_enrollment
from .instructions import create_release_run, instruction_executed, instruction_failed
from .queries import custody_balance, escrow_status, trial_balance, verify_ledger
from .refunds import approve_refund, auto_approve_due, reject_refund, request_refund

__all__ = [
    "apply_deposit",
    "approve_refund",
    "auto_approve_due",
    "auto_confirm_due",
    "confirm_consumption",
    "create_enrollment",
    "create_release_run",
    "custody_balance",
    "dispute_consumption",
    "escrow_status",
    "instruction_executed",
    "instruction_failed",
    "record_attendance",
    "reject_refund",
    "request_refund",
    "trial_balance",
    "verify_ledger",
]
