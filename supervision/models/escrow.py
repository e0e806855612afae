"""Escrow: enrollments, consumptions, refunds, trustee instructions, and the ledger under them.

The ledger is double-entry in integer fen, after TigerBeetle: every account row keeps four
counters (posted and pending, debits and credits) updated in the same transaction as its
entries, and a CHECK makes an overdraft impossible whatever the code above does. Entries are
immutable (a trigger refuses UPDATE and DELETE); holds are pending transfers that resolve
exactly once (posted or voided).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    DDL,
    BigInteger,
    CheckConstraint,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    case,
    event,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, IntPK, Money, Timestamp, utcnow

ENROLLMENT_STATUSES = ("awaiting_payment", "active", "completed", "refunded")
CONSUMPTION_STATUSES = ("pending_confirmation", "confirmed", "disputed")
REFUND_STATUSES = ("requested", "rejected", "instructed", "completed")
INSTRUCTION_STATUSES = ("pending", "sent", "executed", "failed")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} in ({', '.join(repr(v) for v in values)})"


class Enrollment(Base):
    __tablename__ = "enrollments"
    __table_args__ = (
        CheckConstraint("class_hours > 0", name="class_hours_positive"),
        CheckConstraint("consumed_hours >= 0 and consumed_hours <= class_hours",
                        name="consumed_hours_range"),
        CheckConstraint("price_per_class_hour_fen > 0", name="price_positive"),
        CheckConstraint("amount_fen = class_hours * price_per_class_hour_fen", name="amount"),
        CheckConstraint(_in("status", ENROLLMENT_STATUSES), name="status"),
        # The pre-payment cap sums one student's enrollments at one institution.
        Index("ix_enrollments_parent_id_student_name", "parent_id", "student_name"),
    )

    id: Mapped[IntPK]
    parent_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("principals.id"))
    institution_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("institutions.id"),
                                                index=True)
    course_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("courses.id"), index=True)
    student_name: Mapped[str] = mapped_column(String(100))
    student_grade: Mapped[int] = mapped_column(Integer)
    class_hours: Mapped[int] = mapped_column(Integer)
    consumed_hours: Mapped[int] = mapped_column(Integer, default=0)
    # The course's price when the parent enrolled: later price changes do not touch it.
    price_per_class_hour_fen: Mapped[Money]
    amount_fen: Mapped[Money]
    # What the parent quotes when paying the trustee: unguessable, so nobody can pay into
    # (or probe) another family's enrollment by counting.
    payment_reference: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="awaiting_payment")
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    paid_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]


class Consumption(Base):
    """课消: class hours of one enrollment consumed at one session."""

    __tablename__ = "consumptions"
    __table_args__ = (
        UniqueConstraint("session_id", "enrollment_id"),
        CheckConstraint("class_hours > 0", name="class_hours_positive"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint(_in("status", CONSUMPTION_STATUSES), name="status"),
        Index("ix_consumptions_status_auto_confirm_at", "status", "auto_confirm_at"),
    )

    id: Mapped[IntPK]
    enrollment_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("enrollments.id"),
                                               index=True)
    session_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("sessions.id"))
    institution_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("institutions.id"),
                                                index=True)
    parent_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("principals.id"))
    class_hours: Mapped[int] = mapped_column(Integer)
    amount_fen: Mapped[Money]
    status: Mapped[str] = mapped_column(String(24), default="pending_confirmation")
    recorded_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    auto_confirm_at: Mapped[Timestamp]
    confirmed_at: Mapped[dt.datetime | None]
    confirmed_by: Mapped[str | None] = mapped_column(String(16))  # parent | auto
    disputed_at: Mapped[dt.datetime | None]
    dispute_reason: Mapped[str | None] = mapped_column(String(1000))


class Refund(Base):
    __tablename__ = "refunds"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint(_in("status", REFUND_STATUSES), name="status"),
        Index("ix_refunds_status_auto_approve_at", "status", "auto_approve_at"),
    )

    id: Mapped[IntPK]
    enrollment_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("enrollments.id"),
                                               index=True)
    institution_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("institutions.id"),
                                                index=True)
    parent_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("principals.id"))
    amount_fen: Mapped[Money]
    reason: Mapped[str] = mapped_column(String(1000))
    status: Mapped[str] = mapped_column(String(16), default="requested")
    requested_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    auto_approve_at: Mapped[Timestamp]
    decided_at: Mapped[dt.datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(250))
    reject_reason: Mapped[str | None] = mapped_column(String(1000))
    completed_at: Mapped[dt.datetime | None]


class ReleaseRun(Base):
    """One batch of release instructions (the daily job, or a regulator's POST)."""

    __tablename__ = "release_runs"

    id: Mapped[IntPK]
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(250))
    instruction_count: Mapped[int] = mapped_column(Integer, default=0)
    total_fen: Mapped[Money] = mapped_column(default=0)


class Instruction(Base):
    """A payment order to the trustee: pay out a release, or send a refund back."""

    __tablename__ = "instructions"
    __table_args__ = (
        CheckConstraint("kind in ('release', 'refund')", name="kind"),
        CheckConstraint("kind <> 'refund' or refund_id is not null", name="refund_has_refund"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint(_in("status", INSTRUCTION_STATUSES), name="status"),
        Index("ix_instructions_status", "status"),
    )

    id: Mapped[IntPK]
    kind: Mapped[str] = mapped_column(String(8))
    institution_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("institutions.id"),
                                                index=True)
    refund_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("refunds.id"),
                                                  index=True)
    release_run_id: Mapped[int | None] = mapped_column(BigInteger,
                                                       ForeignKey("release_runs.id"))
    amount_fen: Mapped[Money]
    # The supervised (trust) sub-account the money leaves from.
    account_no: Mapped[str] = mapped_column(String(64))
    payee: Mapped[str] = mapped_column(String(200))
    memo: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    trustee_txn_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None]
    executed_at: Mapped[dt.datetime | None]
    failed_at: Mapped[dt.datetime | None]
    failure_reason: Mapped[str | None] = mapped_column(String(500))
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class Deposit(Base):
    """A receipt the trustee reported, and where the ledger booked it."""

    __tablename__ = "deposits"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("outcome in ('applied', 'suspense')", name="outcome"),
    )

    id: Mapped[IntPK]
    event_id: Mapped[str] = mapped_column(String(100), unique=True)
    # One trustee transaction is booked once, whichever event carries it.
    trustee_txn_id: Mapped[str] = mapped_column(String(64), unique=True)
    payment_reference: Mapped[str] = mapped_column(String(100))
    amount_fen: Mapped[Money]
    received_at: Mapped[Timestamp]
    enrollment_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("enrollments.id"),
                                                      index=True)
    institution_id: Mapped[int | None] = mapped_column(BigInteger,
                                                       ForeignKey("institutions.id"), index=True)
    outcome: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str | None] = mapped_column(String(200))
    booked_at: Mapped[Timestamp] = mapped_column(default=utcnow)


class LedgerBalances:
    """The balance arithmetic over TigerBeetle's four counters, written once: on a row it is
    Python, on the class it is SQL (so a rule or a report sums `LedgerAccount.balance`), and
    the ledger's locked snapshots of accounts (escrow.ledger.AccountState) share it too."""

    # Declared by the classes that mix this in (mapped columns, or dataclass fields).
    normal: Any
    debits_posted: Any
    credits_posted: Any
    debits_pending: Any
    credits_pending: Any

    @hybrid_property
    def balance(self) -> int:
        """Posted balance on the account's normal side."""
        if self.normal == "credit":
            return self.credits_posted - self.debits_posted
        return self.debits_posted - self.credits_posted

    @balance.inplace.expression
    @classmethod
    def _balance_sql(cls) -> ColumnElement[int]:
        return case((cls.normal == "credit", cls.credits_posted - cls.debits_posted),
                    else_=cls.debits_posted - cls.credits_posted)

    @hybrid_property
    def pending_out(self) -> int:
        """The holds placed on the account: pending transfers that will take money out of it."""
        return self.debits_pending if self.normal == "credit" else self.credits_pending

    @pending_out.inplace.expression
    @classmethod
    def _pending_out_sql(cls) -> ColumnElement[int]:
        return case((cls.normal == "credit", cls.debits_pending), else_=cls.credits_pending)

    @hybrid_property
    def available(self) -> int:
        """What may still leave the account: the balance less the holds placed on it. The
        no_overdraft CHECK below keeps it from going negative in the database. Needs no SQL
        form of its own: on the class this subtracts the two expressions above."""
        return self.balance - self.pending_out


class LedgerAccount(LedgerBalances, Base):
    """One account and its balance counters (TigerBeetle's four).

    A credit-normal account (what we owe: an enrollment's buckets, suspense) may never have
    more debits, posted plus pending, than posted credits; a debit-normal one (custody, money
    paid out) the reverse. Pending amounts are holds: they count against the balance at once.
    """

    __tablename__ = "ledger_accounts"
    __audit__ = False
    __table_args__ = (
        CheckConstraint("normal in ('debit', 'credit')", name="normal"),
        CheckConstraint("debits_posted >= 0 and credits_posted >= 0 and debits_pending >= 0 "
                        "and credits_pending >= 0", name="counters_non_negative"),
        CheckConstraint("(normal = 'credit' and debits_posted + debits_pending <= credits_posted)"
                        " or (normal = 'debit' and credits_posted + credits_pending"
                        " <= debits_posted)", name="no_overdraft"),
        Index("ix_ledger_accounts_institution_id_kind", "institution_id", "kind"),
    )

    id: Mapped[IntPK]
    # enr:<id>:<kind>, inst:<id>:<kind> or global:<kind>: deterministic, so services find an
    # account without a lookup table and "create if missing" is an INSERT .. ON CONFLICT.
    code: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    normal: Mapped[str] = mapped_column(String(6))
    enrollment_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("enrollments.id"),
                                                      index=True)
    institution_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("institutions.id"))
    debits_posted: Mapped[Money] = mapped_column(default=0)
    credits_posted: Mapped[Money] = mapped_column(default=0)
    debits_pending: Mapped[Money] = mapped_column(default=0)
    credits_pending: Mapped[Money] = mapped_column(default=0)


class LedgerHold(Base):
    """A pending transfer: placed at once against the debit account, later posted or voided,
    exactly once (the status moves from pending by a conditional UPDATE)."""

    __tablename__ = "ledger_holds"
    __audit__ = False
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("status in ('pending', 'posted', 'voided')", name="status"),
    )

    id: Mapped[IntPK]
    kind: Mapped[str] = mapped_column(String(32))
    debit_account_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("ledger_accounts.id"))
    credit_account_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("ledger_accounts.id"))
    amount_fen: Mapped[Money]
    status: Mapped[str] = mapped_column(String(8), default="pending")
    enrollment_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("enrollments.id"),
                                                      index=True)
    institution_id: Mapped[int | None] = mapped_column(BigInteger,
                                                       ForeignKey("institutions.id"))
    instruction_id: Mapped[int | None] = mapped_column(BigInteger,
                                                       ForeignKey("instructions.id"), index=True)
    refund_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("refunds.id"),
                                                  index=True)
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    resolved_at: Mapped[dt.datetime | None]


class LedgerEntry(Base):
    """One side of a posted transfer. Never updated, never deleted: corrections are new
    entries. It is its own audit trail, so the generic one is off."""

    __tablename__ = "ledger_entries"
    __audit__ = False
    __table_args__ = (
        CheckConstraint("direction in ('debit', 'credit')", name="direction"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        # The parent's escrow status reads one enrollment's movements, in order.
        Index("ix_ledger_entries_enrollment_id_id", "enrollment_id", "id"),
        Index("ix_ledger_entries_institution_id_id", "institution_id", "id"),
        Index("ix_ledger_entries_ref_type_ref_id", "ref_type", "ref_id"),
    )

    id: Mapped[IntPK]
    # Both entries of one transfer share it; they always sum to zero.
    txn_id: Mapped[str] = mapped_column(String(32), index=True)
    account_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("ledger_accounts.id"),
                                            index=True)
    account_kind: Mapped[str] = mapped_column(String(32))  # copied: reads need no join
    direction: Mapped[str] = mapped_column(String(6))
    amount_fen: Mapped[Money]
    kind: Mapped[str] = mapped_column(String(32))
    enrollment_id: Mapped[int | None] = mapped_column(BigInteger)
    institution_id: Mapped[int | None] = mapped_column(BigInteger)
    # What booked it: consumption, refund, instruction, deposit (with its id).
    ref_type: Mapped[str | None] = mapped_column(String(16))
    ref_id: Mapped[int | None] = mapped_column(BigInteger)
    trustee_txn_id: Mapped[str | None] = mapped_column(String(64), index=True)
    at: Mapped[Timestamp] = mapped_column(default=utcnow)


# Entries are immutable in the database itself, not only by convention in our code: a stray
# UPDATE from a console or a buggy migration fails. (Alembic does not see these: the lead
# copies them into the migration that creates ledger_entries.)
IMMUTABLE_ENTRIES_PG = DDL("""
CREATE OR REPLACE FUNCTION ledger_entries_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger_entries are append-only: %% refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER ledger_entries_append_only
    BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_immutable();
CREATE TRIGGER ledger_entries_no_truncate
    BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_immutable();
""")
IMMUTABLE_ENTRIES_SQLITE = [
    DDL("CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries "
        "BEGIN SELECT RAISE(ABORT, 'ledger_entries are append-only: UPDATE refused'); END"),
    DDL("CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries "
        "BEGIN SELECT RAISE(ABORT, 'ledger_entries are append-only: DELETE refused'); END"),
]

event.listen(LedgerEntry.__table__, "after_create",
             IMMUTABLE_ENTRIES_PG.execute_if(dialect="postgresql"))
for _ddl in IMMUTABLE_ENTRIES_SQLITE:
    event.listen(LedgerEntry.__table__, "after_create", _ddl.execute_if(dialect="sqlite"))
