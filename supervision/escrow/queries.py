"""Reading the ledger: an enrollment's escrow status, institution summaries, the trial balance,
the entries. Balances come from the account rows, never from summing history."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, bindparam, case, func, or_, select
from sqlalchemy.orm import Session

from ..access.scope import Actor, get_in_scope, scope_clause, scoped
from ..db import BIGINT_MAX, fits_bigint
from ..errors import Invalid, NotFound
from ..models import ClassSession, Course, Institution
from ..models.escrow import Consumption, Enrollment, LedgerAccount, LedgerEntry, LedgerHold, Refund
from . import ledger
from .enrollments import remaining_hours

# The parent's escrow status lists the newest movements, a page at a time (issue 14: an old
# enrollment's whole history in every read grows without bound).
MOVEMENTS_PAGE = 50
MOVEMENTS_PAGE_MAX = 200


@dataclass
class EscrowStatus:
    enrollment_id: int
    paid_fen: int
    held_fen: int
    pending_confirmation_fen: int
    confirmed_fen: int
    released_fen: int
    refund_pending_fen: int
    refunded_fen: int
    refundable_fen: int
    class_hours: dict[str, int]
    movements: list[dict[str, Any]] = field(default_factory=list)
    # The `movements_before` that reads the page of older movements; None on the oldest page.
    movements_next: int | None = None
    # Where money is stuck, for the parent; parts of the buckets above, outside the identity.
    disputed_fen: int = 0
    refund_requested_fen: int = 0
    refunds: list[Refund] = field(default_factory=list)


def escrow_status(session: Session, actor: Actor, enrollment_id: int, *,
                  movements_limit: int = MOVEMENTS_PAGE,
                  movements_before: int | None = None) -> EscrowStatus:
    """API.md §4. `held` is the money in custody not yet consumed, including what a pending
    refund request has claimed; `refundable` is held less those claims (the holds on the
    held account). So paid = the six buckets, always: every fen a deposit credited to held
    sits in exactly one bucket account.

    At most three statements, however long the history: the enrollment (in scope) with its
    bucket accounts and disputed sum; its refunds (only if it has any); one page of movements
    (`movements_page`). `movements_limit=0` reads no movements."""
    if not 0 <= movements_limit <= MOVEMENTS_PAGE_MAX:
        raise Invalid.field("movements_limit", f"between 1 and {MOVEMENTS_PAGE_MAX}")
    enrollment, accounts, disputed, has_refunds = _enrollment_and_balances(
        session, actor, enrollment_id)
    bal = {k: accounts[k].balance if k in accounts else 0 for k in ledger.BUCKETS}
    held = accounts.get("held")
    remaining = remaining_hours(enrollment, accounts)
    refunds = list(session.scalars(
        select(Refund).where(Refund.enrollment_id == enrollment.id).order_by(Refund.id)
    )) if has_refunds else []
    lines, older = (movements_page(session, enrollment.id, limit=movements_limit,
                                   before=movements_before)
                    if movements_limit else ([], None))
    return EscrowStatus(
        enrollment_id=enrollment.id, paid_fen=sum(bal.values()), held_fen=bal["held"],
        pending_confirmation_fen=bal["pending_confirmation"], confirmed_fen=bal["confirmed"],
        released_fen=bal["released"], refund_pending_fen=bal["refund_pending"],
        refunded_fen=bal["refunded"], refundable_fen=held.available if held else 0,
        class_hours={"purchased": enrollment.class_hours,
                     "consumed": enrollment.consumed_hours, "remaining": remaining},
        movements=lines, movements_next=older, disputed_fen=disputed,
        # Approval instructs at once (held → refund_pending), so a requested refund is the
        # only kind whose money still sits in held.
        refund_requested_fen=sum(r.amount_fen for r in refunds if r.status == "requested"),
        refunds=refunds)


def _enrollment_and_balances(session: Session, actor: Actor, enrollment_id: int
                             ) -> tuple[Enrollment, dict[str, ledger.AccountState], int, bool]:
    """One statement: the enrollment if in scope (NotFound otherwise, as `get_in_scope`), a row
    per bucket account, the disputed part of pending_confirmation (the money stays there
    meanwhile) and whether any refund exists. The two sums are keyed by the id given, not
    correlated, so they run once; an enrollment out of scope returns no row at all."""
    if not fits_bigint(enrollment_id):
        raise NotFound("enrollment")
    a = LedgerAccount
    disputed = (select(func.coalesce(func.sum(Consumption.amount_fen), 0))
                .where(Consumption.enrollment_id == enrollment_id,
                       Consumption.status == "disputed").scalar_subquery())
    has_refunds = select(Refund.id).where(Refund.enrollment_id == enrollment_id).exists()
    rows = session.execute(
        select(Enrollment, disputed, has_refunds, a.id, a.code, a.kind, a.normal,
               a.enrollment_id, a.debits_posted, a.credits_posted, a.debits_pending,
               a.credits_pending)
        .outerjoin(a, a.enrollment_id == Enrollment.id)
        .where(Enrollment.id == enrollment_id, scope_clause(actor, Enrollment))).all()
    if not rows:
        raise NotFound("enrollment")
    accounts = {row[5]: ledger.AccountState(*row[3:]) for row in rows if row[3] is not None}
    return rows[0][0], accounts, int(rows[0][1] or 0), bool(rows[0][2])


def _movements_statement() -> Select[Any]:
    """The page of movements, built once (it depends on no actor): `limit` + 1 transfer keys
    at or below `upto`, newest first, then both entries of each, oldest first."""
    e = LedgerEntry
    page = (select(e.id, e.txn_id)
            .where(e.enrollment_id == bindparam("enrollment_id"), e.direction == "debit",
                   e.id <= bindparam("upto"))
            .order_by(e.id.desc()).limit(bindparam("limit")).subquery("page"))
    return (select(page.c.id.label("key"), e.txn_id, e.direction, e.account_kind, e.amount_fen,
                   e.kind, e.at, e.ref_type, e.ref_id, e.trustee_txn_id,
                   ClassSession.id.label("session_id"), ClassSession.starts_at,
                   Course.name.label("course_name"))
            .join(e, e.txn_id == page.c.txn_id)
            .outerjoin(Consumption, (e.ref_type == "consumption") & (Consumption.id == e.ref_id))
            .outerjoin(ClassSession, ClassSession.id == Consumption.session_id)
            .outerjoin(Course, Course.id == ClassSession.course_id)
            .order_by(page.c.id, e.id))


_MOVEMENTS = _movements_statement()


def movements_page(session: Session, enrollment_id: int, *, limit: int = MOVEMENTS_PAGE,
                   before: int | None = None) -> tuple[list[dict[str, Any]], int | None]:
    """The newest `limit` posted transfers of the enrollment's money older than the cursor,
    listed oldest first (as the whole history used to be), one line each: from which bucket
    to which (custody for a deposit). A consumption's lines (its billing, its confirmation)
    name the class they paid for. Returns the lines and the cursor of the older page (None
    when there is none).

    A transfer is keyed by its debit entry (each has exactly one, carrying the enrollment's
    id like its credit entry), so a page never splits a transfer: the keys come from the
    (enrollment_id, id) index read backwards, their credit entries by txn_id, in one
    statement. The cursor is the oldest key shown; the next page reads keys below it."""
    if before is not None and not (before >= 1 and fits_bigint(before)):
        raise Invalid.field("movements_before", "an entry id from movements_next")
    rows = session.execute(_MOVEMENTS, {
        "enrollment_id": enrollment_id, "limit": limit + 1,
        "upto": BIGINT_MAX if before is None else before - 1})
    out: dict[int, dict[str, Any]] = {}
    for r in rows:
        line = out.setdefault(r.key, {
            "at": r.at, "kind": r.kind, "amount_fen": r.amount_fen, "from": None, "to": None,
            "ref_type": r.ref_type, "ref_id": r.ref_id, "trustee_txn_id": r.trustee_txn_id})
        if r.session_id is not None:
            line["session"] = {"id": r.session_id, "starts_at": r.starts_at,
                               "course_name": r.course_name}
        line["from" if r.direction == "debit" else "to"] = r.account_kind
    keyed = sorted(out)
    if len(keyed) <= limit:
        return [out[k] for k in keyed], None
    # One more than asked for was read, only to learn whether an older page exists.
    shown = keyed[1:]
    return [out[k] for k in shown], shown[0]


class EnrollmentView:
    """An enrollment as a parent's list reads it: every column, plus the names of the course
    and the institution (so the list needs no further calls)."""

    def __init__(self, enrollment: Enrollment, course_name: str, institution_name: str) -> None:
        self.enrollment = enrollment
        self.course_name = course_name
        self.institution_name = institution_name

    def __getattr__(self, name: str) -> Any:
        return getattr(self.enrollment, name)


def enrollment_views(session: Session, enrollments: list[Enrollment]) -> list[EnrollmentView]:
    """The enrollments with their names, in one query for the whole page."""
    names = {row.id: (row.course_name, row.institution_name) for row in session.execute(
        select(Course.id, Course.name.label("course_name"),
               Institution.name.label("institution_name"))
        .join(Institution, Institution.id == Course.institution_id)
        .where(Course.id.in_({x.course_id for x in enrollments})))} if enrollments else {}
    return [EnrollmentView(x, *names[x.course_id]) for x in enrollments]


def enrollment_view(session: Session, enrollment: Enrollment) -> EnrollmentView:
    return enrollment_views(session, [enrollment])[0]


@dataclass
class InstitutionSummary:
    institution_id: int
    paid_fen: int
    held_fen: int
    pending_confirmation_fen: int
    confirmed_fen: int
    released_fen: int
    refund_pending_fen: int
    refunded_fen: int
    refundable_fen: int
    custody_fen: int
    suspense_fen: int


def institution_summary(session: Session, actor: Actor,
                        institution_id: int) -> InstitutionSummary:
    institution = get_in_scope(session, actor, Institution, institution_id)
    a = LedgerAccount
    rows = session.execute(
        select(a.kind, func.sum(a.balance), func.sum(a.available))
        .where(a.institution_id == institution.id).group_by(a.kind))
    bal: dict[str, int] = defaultdict(int)
    available: dict[str, int] = defaultdict(int)
    for kind, balance, free in rows:
        bal[kind], available[kind] = int(balance), int(free)
    return InstitutionSummary(
        institution_id=institution.id, paid_fen=sum(bal[k] for k in ledger.BUCKETS),
        held_fen=bal["held"], pending_confirmation_fen=bal["pending_confirmation"],
        confirmed_fen=bal["confirmed"], released_fen=bal["released"],
        refund_pending_fen=bal["refund_pending"], refunded_fen=bal["refunded"],
        refundable_fen=available["held"], custody_fen=bal["custody"],
        suspense_fen=bal["suspense"])


@dataclass
class TrialBalance:
    balanced: bool
    debits_fen: int
    credits_fen: int
    accounts: list[dict[str, Any]]


def trial_balance(session: Session, actor: Actor) -> TrialBalance:
    """Posted debits and credits of every account in scope, totalled by kind of account.
    Every transfer debits and credits the same amount, so the totals are equal."""
    a = LedgerAccount
    rows = session.execute(
        select(a.kind, a.normal, func.count(), func.sum(a.debits_posted),
               func.sum(a.credits_posted), func.sum(a.balance), func.sum(a.debits_pending),
               func.sum(a.credits_pending))
        .where(scope_clause(actor, a)).group_by(a.kind, a.normal)
        .order_by(a.kind))
    accounts: list[dict[str, Any]] = []
    debits = credits = 0
    for kind, normal, count, *sums in rows:
        dp, cp, balance, dpe, cpe = map(int, sums)
        debits += dp
        credits += cp
        accounts.append({"kind": kind, "normal": normal, "count": count, "debits_fen": dp,
                         "credits_fen": cp, "balance_fen": balance,
                         "pending_debits_fen": dpe, "pending_credits_fen": cpe})
    return TrialBalance(balanced=debits == credits, debits_fen=debits, credits_fen=credits,
                        accounts=accounts)


def entries_query(session: Session, actor: Actor, *, enrollment_id: int | None = None,
                  institution_id: int | None = None) -> Select[tuple[LedgerEntry]]:
    stmt = scoped(select(LedgerEntry), actor, LedgerEntry).order_by(
        LedgerEntry.id)
    if enrollment_id is not None:
        stmt = stmt.where(LedgerEntry.enrollment_id == enrollment_id)
    if institution_id is not None:
        stmt = stmt.where(LedgerEntry.institution_id == institution_id)
    return stmt


def custody_balance(session: Session, account_no: str) -> int:
    """The ledger's balance of one supervised account: what the trustee's statement must show
    at least (the statement reconciliation). Institutions sharing an account number are summed."""
    a = LedgerAccount
    value = session.scalar(
        select(func.coalesce(func.sum(a.balance), 0))
        .join(Institution, Institution.id == a.institution_id)
        .where(a.kind == "custody", Institution.supervised_account_no == account_no))
    return int(value or 0)


def verify_ledger(session: Session) -> list[str]:
    """Audit the stored balances against history (not for hot paths: it reads every entry).
    Returns the problems found; an empty list means the books agree."""
    problems = []
    e = LedgerEntry
    signed = func.sum(case((e.direction == "debit", e.amount_fen), else_=-e.amount_fen))
    net = session.scalar(select(func.coalesce(signed, 0)))
    if net:
        problems.append(f"entries do not sum to zero: {net}")
    unbalanced = session.scalars(select(e.txn_id).group_by(e.txn_id).having(signed != 0))
    problems += [f"transfer {t} is unbalanced" for t in unbalanced]
    sums = select(e.account_id,
                  func.sum(case((e.direction == "debit", e.amount_fen), else_=0)).label("d"),
                  func.sum(case((e.direction == "credit", e.amount_fen), else_=0)).label("c")
                  ).group_by(e.account_id).subquery()
    a = LedgerAccount
    mismatched = session.execute(
        select(a.code, a.debits_posted, a.credits_posted, sums.c.d, sums.c.c)
        .outerjoin(sums, sums.c.account_id == a.id)
        .where(or_(a.debits_posted != func.coalesce(sums.c.d, 0),
                   a.credits_posted != func.coalesce(sums.c.c, 0))))
    problems += [f"account {code}: stored {dp}/{cp}, entries {d}/{c}"
                 for code, dp, cp, d, c in mismatched]
    return problems + _verify_holds(session)


def _verify_holds(session: Session) -> list[str]:
    """Each account's pending counters equal the pending holds on it."""
    h, a = LedgerHold, LedgerAccount
    out: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for account_id, amount in session.execute(
            select(h.debit_account_id, func.sum(h.amount_fen)).where(h.status == "pending")
            .group_by(h.debit_account_id)):
        out[account_id][0] = int(amount)
    for account_id, amount in session.execute(
            select(h.credit_account_id, func.sum(h.amount_fen)).where(h.status == "pending")
            .group_by(h.credit_account_id)):
        out[account_id][1] = int(amount)
    problems = []
    for account_id, code, dpe, cpe in session.execute(
            select(a.id, a.code, a.debits_pending, a.credits_pending)
            .where(or_(a.debits_pending != 0, a.credits_pending != 0, a.id.in_(list(out))))):
        if [dpe, cpe] != out.get(account_id, [0, 0]):
            problems.append(f"account {code}: pending {dpe}/{cpe}, holds {out.get(account_id)}")
    return problems
