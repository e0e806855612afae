"""课消 on PostgreSQL in one statement: the lean posting path of record_attendance.

Through the ORM one posting request made 17 round trips, counted at psycopg (the pool's ping,
BEGIN, the token, the session, its course, the institution, the enrollments, the consumptions
already recorded, the calendar, the INSERT, its audit row, the lock, the counters, the entries,
the consumed hours, the outbox, COMMIT), each waited for while a gunicorn thread holds its
connection; with this path it makes 5 (ping, BEGIN, token, this statement, COMMIT). Ledgers
built for this rate (TigerBeetle, pgledger) do one round trip per batch; this does the same
with one data-modifying CTE:

1. read and check what record_attendance checks (in scope, institution active, session
   scheduled and started, class hours within the session, each enrollment an active one of the
   session's course, paid before the session started, not yet recorded);
2. only if all of that holds, lock the held and pending_confirmation accounts of every
   enrollment FOR UPDATE in id order (as ledger.book does: no cycle with another booking), and
   check the overdraft rule on the locked (latest) counters;
3. only if that holds too, write what the ORM path writes: the consumptions, the counters, two
   ledger entries per consumption (debit first, one txn id each), the consumed hours, one
   outbox row, and the audit rows that the flush hook would have written for the consumptions
   (Core statements bypass it).

Every write is conditional on the verdict, so a refusal writes nothing; the statement then
returns no row and `record` returns None: record_attendance runs its ORM path, which raises the
refusal, with its exact code, message and errors, because it is the same code that decides it
on SQLite. (The balance checked under the lock may have changed once more by then: the refusal,
or the posting, is then the one the state of that moment gives, as for a request a moment
later.) tests/escrow/test_fast_attendance.py books the same attendance through both paths and
compares what they wrote.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ..access.audit import creation_trail
from ..access.scope import Actor
from ..db import fits_bigint, is_postgres
from ..models.base import utcnow
from ..models.escrow import Consumption
from .ledger import enr
from .pg_batch import table

# Off only in tests that compare this path with the ORM path on the same database.
ENABLED = True

_RECORD = text("""
WITH req AS (
    SELECT r.id, r.ord FROM unnest(CAST(:eids AS bigint[])) WITH ORDINALITY AS r(id, ord)
),
cls AS (
    SELECT s.id, s.course_id, s.institution_id, s.starts_at,
           CAST(greatest(1, floor(floor(extract(epoch FROM s.ends_at - s.starts_at) / 60)
                                  / c.minutes_per_class_hour)) AS integer) AS most
    FROM sessions AS s
    JOIN courses AS c ON c.id = s.course_id
    JOIN institutions AS i ON i.id = s.institution_id
    WHERE s.id = CAST(:sid AS bigint)
      AND (CAST(:inst AS bigint) IS NULL OR s.institution_id = CAST(:inst AS bigint))
      AND i.status = 'active' AND s.status = 'scheduled' AND s.starts_at <= :as_of
),
hrs AS (
    SELECT cls.*, coalesce(CAST(:hours AS integer), cls.most) AS hours FROM cls
    WHERE CAST(:hours AS integer) IS NULL OR CAST(:hours AS integer) <= cls.most
),
good AS MATERIALIZED (
    SELECT r.ord, e.id, e.institution_id, e.parent_id, h.hours,
           h.hours * e.price_per_class_hour_fen AS amount
    FROM req AS r
    JOIN enrollments AS e ON e.id = r.id
    CROSS JOIN hrs AS h
    WHERE e.course_id = h.course_id AND e.status = 'active'
      AND (e.paid_at IS NULL OR e.paid_at <= h.starts_at)
      AND NOT EXISTS (SELECT 1 FROM consumptions AS x
                      WHERE x.session_id = h.id AND x.enrollment_id = e.id)
),
locked AS MATERIALIZED (
    SELECT a.id, a.kind, a.normal, a.enrollment_id, a.debits_posted, a.credits_posted,
           a.debits_pending, a.credits_pending
    FROM ledger_accounts AS a
    WHERE a.code = ANY(CAST(:codes AS varchar[])) AND (SELECT count(*) FROM good) = :n
    ORDER BY a.id
    FOR UPDATE
),
moved AS MATERIALIZED (
    SELECT a.*, g.ord,
           CASE WHEN a.kind = 'held' THEN g.amount ELSE 0 END AS debit,
           CASE WHEN a.kind = 'held' THEN 0 ELSE g.amount END AS credit
    FROM locked AS a JOIN good AS g ON g.id = a.enrollment_id
),
verdict AS MATERIALIZED (
    SELECT (SELECT count(*) FROM good) = :n
       AND (SELECT count(*) FROM moved) = 2 * :n
       AND NOT EXISTS (
           SELECT 1 FROM moved AS m
           WHERE CASE WHEN m.normal = 'credit'
                      THEN m.credits_posted + m.credit - m.debits_posted - m.debit
                           - m.debits_pending
                      ELSE m.debits_posted + m.debit - m.credits_posted - m.credit
                           - m.credits_pending
                 END < 0) AS ok
),
new_c AS (
    INSERT INTO consumptions (enrollment_id, session_id, institution_id, parent_id,
                              class_hours, amount_fen, status, recorded_at, auto_confirm_at)
    SELECT g.id, :sid, g.institution_id, g.parent_id, g.hours, g.amount,
           'pending_confirmation', :as_of, :auto_at
    FROM good AS g WHERE (SELECT ok FROM verdict)
    ORDER BY g.ord
    RETURNING *
),
c AS MATERIALIZED (
    SELECT n.*, g.ord, replace(CAST(gen_random_uuid() AS text), '-', '') AS txn
    FROM new_c AS n JOIN good AS g ON g.id = n.enrollment_id
),
counters AS (
    UPDATE ledger_accounts AS a
    SET debits_posted = a.debits_posted + m.debit, credits_posted = a.credits_posted + m.credit
    FROM moved AS m
    WHERE a.id = m.id AND (SELECT ok FROM verdict)
    RETURNING a.id
),
entries AS (
    INSERT INTO ledger_entries (txn_id, account_id, account_kind, direction, amount_fen, kind,
                                enrollment_id, institution_id, ref_type, ref_id,
                                trustee_txn_id, at)
    SELECT c.txn, m.id, m.kind, CASE WHEN m.debit > 0 THEN 'debit' ELSE 'credit' END,
           c.amount_fen, 'consumption', c.enrollment_id, c.institution_id, 'consumption',
           c.id, NULL, :now
    FROM c JOIN moved AS m ON m.enrollment_id = c.enrollment_id
    ORDER BY c.ord, m.debit = 0
    RETURNING id
),
hours_used AS (
    UPDATE enrollments AS e SET consumed_hours = e.consumed_hours + g.hours
    FROM good AS g
    WHERE e.id = g.id AND (SELECT ok FROM verdict)
    RETURNING e.id
),
note AS (
    INSERT INTO outbox (kind, payload, created_at, attempts, next_attempt_at)
    SELECT 'escrow.consumption',
           json_build_object(
               'session_id', h.id, 'institution_id', h.institution_id,
               'consumptions', (SELECT json_agg(json_build_object(
                   'consumption_id', c.id, 'enrollment_id', c.enrollment_id,
                   'institution_id', c.institution_id, 'parent_id', c.parent_id,
                   'class_hours', c.class_hours, 'amount_fen', c.amount_fen,
                   'status', 'pending_confirmation') ORDER BY c.ord) FROM c)),
           :now, 0, :now
    FROM hrs AS h WHERE (SELECT ok FROM verdict)
    RETURNING id
),
trail AS (
    INSERT INTO audit_log (at, actor, principal_id, action, entity, entity_id, changes,
                           institution_id)
    SELECT :now, :actor, CAST(:principal_id AS bigint), :action, 'consumptions',
           CAST(c.id AS text),
           json_build_object('id', c.id, 'enrollment_id', c.enrollment_id, 'session_id', :sid,
                             'institution_id', c.institution_id, 'parent_id', c.parent_id,
                             'class_hours', c.class_hours, 'amount_fen', c.amount_fen,
                             'status', 'pending_confirmation',
                             'recorded_at', CAST(:recorded_text AS text),
                             'auto_confirm_at', CAST(:auto_text AS text)),
           c.institution_id
    FROM c ORDER BY c.ord
    RETURNING id
)
SELECT c.id, c.enrollment_id, c.session_id, c.institution_id, c.parent_id, c.class_hours,
       c.amount_fen, c.status, c.recorded_at, c.auto_confirm_at, c.confirmed_at, c.confirmed_by,
       c.disputed_at, c.dispute_reason
FROM c ORDER BY c.ord
""")
# The booked rows come back as Consumption objects loaded the ORM's usual way: persistent in the
# session (a later get() is the same object; a locked re-read refreshes it), nothing left to
# flush, so no second audit row.
_CONSUMPTIONS = select(Consumption).from_statement(_RECORD.columns(*(
    table(Consumption).c[name] for name in (
        "id", "enrollment_id", "session_id", "institution_id", "parent_id", "class_hours",
        "amount_fen", "status", "recorded_at", "auto_confirm_at", "confirmed_at",
        "confirmed_by", "disputed_at", "dispute_reason"))))


def _scope(actor: Actor) -> tuple[bool, int | None]:
    """(applies, the institution the session must belong to): scope_clause for the roles that
    record attendance (an institution's own sessions; the system's, all). Any other caller
    takes the ORM path, which decides its scope in the one place."""
    if actor.role == "institution" and actor.institution_id is not None:
        return True, actor.institution_id
    if actor.role == "system":
        return True, None
    return False, None


def record(session: Session, actor: Actor, *, session_id: int, enrollment_ids: Sequence[int],
           class_hours: int | None, as_of: dt.datetime,
           auto_confirm_at: dt.datetime) -> list[Consumption] | None:
    """The consumptions booked in one statement, or None when this path does not apply or
    anything would be refused (then nothing was written: the ORM path says why)."""
    applies, institution_id = _scope(actor)
    ids = list(enrollment_ids)
    if (not ENABLED or not applies or not is_postgres(session) or not ids
            or len(set(ids)) != len(ids) or not fits_bigint(session_id)
            or not all(fits_bigint(i) for i in ids)
            or (class_hours is not None and class_hours < 1)):
        return None
    session.flush()  # what the ORM path's first query would have flushed
    trail_actor, principal_id, action = creation_trail(session)
    booked = list(session.scalars(_CONSUMPTIONS, {
        "eids": ids, "n": len(ids), "sid": session_id, "inst": institution_id,
        "as_of": as_of, "hours": class_hours,
        "codes": [enr(i, k) for i in ids for k in ("held", "pending_confirmation")],
        "auto_at": auto_confirm_at, "now": utcnow(), "actor": trail_actor,
        "principal_id": principal_id, "action": action,
        "recorded_text": as_of.isoformat(), "auto_text": auto_confirm_at.isoformat(),
    }))
    return booked or None

