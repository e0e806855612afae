"""Enrollments and escrow (API.md §4): load with a schema, call one service, dump."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify
from flask.views import MethodView

from .. import escrow
from ..access.scope import get_in_scope
from ..escrow import consumption, enrollments, instructions, queries, refunds
from ..models.escrow import Consumption, Instruction, Refund
from ..web.auth import current_actor, requires
from ..web.replica import replica_reads
from ..web.request import (
    Answer,
    after_commit,
    answer_after_commit,
    db_session,
    session_factory,
)
from ..workers.trustee import deliver_instructions
from . import escrow_schemas as s
from .common import Blueprint, Query, shanghai_now
from .idempotency import money_moving

enrollments_bp = Blueprint("escrow_enrollments", __name__,
                           description="Enrollments and their escrow status (§4)")
consumptions_bp = Blueprint("escrow_consumptions", __name__,
                            description="Attendance and consumption, 课消 (§4)")
refunds_bp = Blueprint("escrow_refunds", __name__, description="Refunds (§4)")
ledger_bp = Blueprint("escrow_ledger", __name__,
                      description="Releases, instructions and the ledger (§4)")


def deliver_then_answer(instruction_ids: list[int], answer: Answer) -> None:
    """An instruction must be in the database before the trustee hears of it (a crash in
    between then leaves a pending instruction that the retry job delivers, never an
    instruction at the trustee that we do not know), and it must reach the trustee before we
    answer: so it is delivered after the request's commit, and the answer is built again
    afterwards, with the statuses the delivery left."""
    if instruction_ids:
        factory, settings = session_factory(), current_app.config["SUPERVISION"]
        after_commit(lambda: deliver_instructions(factory, settings, instruction_ids))
    answer_after_commit(answer)


def _answer(schema: Any, data: Any, status: int) -> Response:
    response = jsonify(schema.dump(data))
    response.status_code = status
    return response


# --- enrollments -----------------------------------------------------------------------------

@enrollments_bp.route("/enrollments")
class Enrollments(MethodView):
    @requires("parent")
    @money_moving
    @enrollments_bp.arguments(s.EnrollmentIn)
    @enrollments_bp.response(201, s.EnrollmentOut)
    def post(self, data: dict[str, Any]) -> Any:
        session = db_session()
        return queries.enrollment_view(
            session, escrow.create_enrollment(session, current_actor(), **data))

    @replica_reads
    @requires("parent", "institution", "regulator")
    @enrollments_bp.arguments(s.EnrollmentArgs, location="query")
    @enrollments_bp.response(200, s.EnrollmentOut(many=True))
    @enrollments_bp.paginate_sql()
    def get(self, args: dict[str, Any]) -> Any:
        session = db_session()
        return Query(session, enrollments.enrollments_query(session, current_actor(), **args),
                     present=lambda page: queries.enrollment_views(session, page))


@enrollments_bp.route("/enrollments/<int:enrollment_id>")
class EnrollmentOne(MethodView):
    @replica_reads
    @requires("parent", "institution", "regulator")
    @enrollments_bp.response(200, s.EnrollmentOut)
    def get(self, enrollment_id: int) -> Any:
        session = db_session()
        return queries.enrollment_view(
            session, enrollments.get_enrollment(session, current_actor(), enrollment_id))


@enrollments_bp.route("/enrollments/<int:enrollment_id>/escrow")
class EnrollmentEscrow(MethodView):
    @replica_reads
    @requires("parent", "institution", "regulator")
    @enrollments_bp.arguments(s.EscrowStatusArgs, location="query")
    @enrollments_bp.response(200, s.EscrowStatusOut)
    def get(self, args: dict[str, Any], enrollment_id: int) -> Any:
        return escrow.escrow_status(db_session(), current_actor(), enrollment_id, **args)


@enrollments_bp.route("/enrollments/<int:enrollment_id>/refunds")
class EnrollmentRefunds(MethodView):
    @requires("parent")
    @money_moving
    @enrollments_bp.arguments(s.RefundIn)
    @enrollments_bp.response(201, s.RefundOut)
    def post(self, data: dict[str, Any], enrollment_id: int) -> Any:
        return escrow.request_refund(db_session(), current_actor(), enrollment_id,
                                     reason=data["reason"], amount_fen=data.get("amount_fen"),
                                     as_of=shanghai_now())


# --- consumption -----------------------------------------------------------------------------

@consumptions_bp.route("/sessions/<int:session_id>/attendance")
class Attendance(MethodView):
    @requires("institution")
    @money_moving
    @consumptions_bp.arguments(s.AttendanceIn)
    @consumptions_bp.response(201, s.AttendanceOut)
    def post(self, data: dict[str, Any], session_id: int) -> Any:
        booked = escrow.record_attendance(
            db_session(), current_actor(), session_id=session_id,
            enrollment_ids=data["enrollment_ids"],
            class_hours=data.get("class_hours"), as_of=shanghai_now())
        return jsonify(attendance_body(booked)), 201


# The schema's own field, so a time reads as AttendanceOut would write it (+08:00).
_WHEN = s.ConsumptionOut._declared_fields["recorded_at"]


def attendance_body(consumptions: list[Consumption]) -> dict[str, Any]:
    """AttendanceOut's dump, written out: marshmallow's walk of a nested schema per student was
    a fifth of the Python left (profiled, a class of forty) once the posting became one
    statement. tests/escrow/test_escrow_attendance.py checks that it equals the schema's dump."""
    def when(value: Any) -> Any:
        return _WHEN._serialize(value, None, None)

    return {"consumptions": [{
        "id": c.id, "enrollment_id": c.enrollment_id, "session_id": c.session_id,
        "institution_id": c.institution_id, "class_hours": c.class_hours,
        "amount_fen": c.amount_fen, "status": c.status, "recorded_at": when(c.recorded_at),
        "auto_confirm_at": when(c.auto_confirm_at), "confirmed_at": when(c.confirmed_at),
        "confirmed_by": c.confirmed_by, "disputed_at": when(c.disputed_at),
        "dispute_reason": c.dispute_reason} for c in consumptions]}


@consumptions_bp.route("/consumptions")
class Consumptions(MethodView):
    @replica_reads
    @requires("parent", "institution", "regulator")
    @consumptions_bp.arguments(s.ConsumptionArgs, location="query")
    @consumptions_bp.response(200, s.ConsumptionOut(many=True))
    @consumptions_bp.paginate_sql()
    def get(self, args: dict[str, Any]) -> Any:
        session = db_session()
        return Query(session, consumption.consumptions_query(session, current_actor(), **args))


@consumptions_bp.route("/consumptions/<int:consumption_id>")
class ConsumptionOne(MethodView):
    @requires("parent", "institution", "regulator")
    @consumptions_bp.response(200, s.ConsumptionOut)
    def get(self, consumption_id: int) -> Any:
        session = db_session()
        return get_in_scope(session, current_actor(), Consumption, consumption_id)


@consumptions_bp.route("/consumptions/<int:consumption_id>/confirm")
class ConsumptionConfirm(MethodView):
    @requires("parent")
    @money_moving
    @consumptions_bp.response(200, s.ConsumptionOut)
    def post(self, consumption_id: int) -> Any:
        return escrow.confirm_consumption(db_session(), current_actor(), consumption_id,
                                          as_of=shanghai_now())


@consumptions_bp.route("/consumptions/<int:consumption_id>/dispute")
class ConsumptionDispute(MethodView):
    @requires("parent")
    @money_moving
    @consumptions_bp.arguments(s.ReasonIn)
    @consumptions_bp.response(200, s.ConsumptionOut)
    def post(self, data: dict[str, Any], consumption_id: int) -> Any:
        return escrow.dispute_consumption(db_session(), current_actor(), consumption_id,
                                          reason=data["reason"], as_of=shanghai_now())


# --- refunds ---------------------------------------------------------------------------------

@refunds_bp.route("/refunds")
class Refunds(MethodView):
    @requires("parent", "institution", "regulator")
    @refunds_bp.arguments(s.RefundArgs, location="query")
    @refunds_bp.response(200, s.RefundOut(many=True))
    @refunds_bp.paginate_sql()
    def get(self, args: dict[str, Any]) -> Any:
        return Query(db_session(), refunds.refunds_query(db_session(), current_actor(), **args))


@refunds_bp.route("/refunds/<int:refund_id>")
class RefundOne(MethodView):
    @requires("parent", "institution", "regulator")
    @refunds_bp.response(200, s.RefundOut)
    def get(self, refund_id: int) -> Any:
        session = db_session()
        return get_in_scope(session, current_actor(), Refund, refund_id)


@refunds_bp.route("/refunds/<int:refund_id>/approve")
class RefundApprove(MethodView):
    @requires("institution", "regulator")
    @money_moving
    @refunds_bp.response(200, s.RefundOut)
    def post(self, refund_id: int) -> Any:
        session = db_session()
        instruction = escrow.approve_refund(session, current_actor(), refund_id,
                                             as_of=shanghai_now())
        deliver_then_answer([instruction.id], lambda fresh: _answer(
            s.RefundOut(), fresh.get(Refund, refund_id), 200))
        return session.get(Refund, refund_id)


@refunds_bp.route("/refunds/<int:refund_id>/reject")
class RefundReject(MethodView):
    @requires("institution")
    @money_moving
    @refunds_bp.arguments(s.ReasonIn)
    @refunds_bp.response(200, s.RefundOut)
    def post(self, data: dict[str, Any], refund_id: int) -> Any:
        return escrow.reject_refund(db_session(), current_actor(), refund_id, reason=data["reason"],
                                    as_of=shanghai_now())


# --- releases and the ledger -----------------------------------------------------------------

@ledger_bp.route("/escrow/release-runs")
class ReleaseRuns(MethodView):
    @requires("regulator")
    @money_moving
    @ledger_bp.response(201, s.ReleaseRunOut)
    def post(self) -> Any:
        session = db_session()
        run = escrow.create_release_run(session, current_actor())
        items = instructions.run_instructions(session, run)
        deliver_then_answer([i.id for i in items], lambda fresh: _answer(
            s.ReleaseRunOut(), _run_body(run, instructions.run_instructions(fresh, run)), 201))
        return _run_body(run, items)


def _run_body(run: Any, items: list[Instruction]) -> dict[str, Any]:
    return {"id": run.id, "created_at": run.created_at, "total_fen": run.total_fen,
            "instructions": items}


@ledger_bp.route("/escrow/instructions")
class Instructions(MethodView):
    @requires("regulator", "institution")
    @ledger_bp.arguments(s.InstructionArgs, location="query")
    @ledger_bp.response(200, s.InstructionOut(many=True))
    @ledger_bp.paginate_sql()
    def get(self, args: dict[str, Any]) -> Any:
        session = db_session()
        return Query(session, instructions.instructions_query(session, current_actor(), **args))


@ledger_bp.route("/escrow/trial-balance")
class TrialBalance(MethodView):
    @requires("regulator")
    @ledger_bp.response(200, s.TrialBalanceOut)
    def get(self) -> Any:
        return escrow.trial_balance(db_session(), current_actor())


@ledger_bp.route("/escrow/institutions/<int:institution_id>/summary")
class InstitutionSummary(MethodView):
    @requires("regulator", "institution")
    @ledger_bp.response(200, s.SummaryOut)
    def get(self, institution_id: int) -> Any:
        return queries.institution_summary(db_session(), current_actor(), institution_id)


@ledger_bp.route("/escrow/entries")
class Entries(MethodView):
    @requires("regulator", "institution")
    @ledger_bp.arguments(s.EntryArgs, location="query")
    @ledger_bp.response(200, s.EntryOut(many=True))
    @ledger_bp.paginate_sql()
    def get(self, args: dict[str, Any]) -> Any:
        return Query(db_session(), queries.entries_query(db_session(), current_actor(), **args))


blueprints = [enrollments_bp, consumptions_bp, refunds_bp, ledger_bp]
