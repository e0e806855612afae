"""The rule catalogue: every code of RULES.md as data, and GET /api/v1/rules."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from supervision.compliance.catalogue import CATALOGUE, catalogue_with_parameters
from supervision.compliance.rules import evaluated_codes
from supervision.config import load_settings

from ..support.factories import Factory
from ..support.settings import with_policy

# RULES.md §1-§7, §10 and §11, in order.
RULES_MD_CODES = [
    "DISGUISED_SUBJECT", "CATEGORY_OUTSIDE_LICENSE", "SUBJECT_ON_HOLIDAY", "SUBJECT_ON_WEEKEND",
    "SUBJECT_ON_ADJUSTED_WORKDAY", "SUBJECT_IN_VACATION", "ONLINE_SESSION_TOO_LONG",
    "ONLINE_INTERVAL_TOO_SHORT", "LATE_END_ONLINE", "LATE_END_OFFLINE", "PRESCHOOL_ONLINE",
    "PRESCHOOL_SUBJECT", "CALENDAR_DATA_MISSING", "PREPAY_OVER_HOURS", "PREPAY_OVER_AMOUNT",
    "CONSUMPTION_DISPUTED", "REFUND_REJECTED", "REFUND_OVERDUE", "ABSCONDING_SIGNAL",
    "PRICE_ABOVE_GUIDE", "FUND_UNMATCHED_DEPOSIT", "FUND_MISSING_IN_STATEMENT", "FUND_SHORTFALL",
    "TEACHER_UNQUALIFIED", "INSERVICE_TEACHER", "STAFF_BLACKLISTED", "STAFF_BACKGROUND_MISSING",
    "NOT_NONPROFIT", "UNLICENSED_OPERATION", "LICENSE_EXPIRING", "OPERATING_WHILE_SUSPENDED",
    "MODE_OUTSIDE_LICENSE", "VENUE_UNREGISTERED", "VENUE_OVER_CAPACITY",
    "COMPLAINT_UNANSWERED", "COMPLAINT_OVERDUE", "COMPLAINTS_SURGE", "RISK_HIGH",
]
SEVERITY = {
    "critical": {"ABSCONDING_SIGNAL", "FUND_UNMATCHED_DEPOSIT", "FUND_SHORTFALL",
                 "INSERVICE_TEACHER", "STAFF_BLACKLISTED", "STAFF_BACKGROUND_MISSING",
                 "NOT_NONPROFIT", "UNLICENSED_OPERATION", "OPERATING_WHILE_SUSPENDED",
                 "RISK_HIGH"},
    "low": {"SUBJECT_ON_ADJUSTED_WORKDAY", "CALENDAR_DATA_MISSING", "LICENSE_EXPIRING"},
    "medium": {"ONLINE_SESSION_TOO_LONG", "ONLINE_INTERVAL_TOO_SHORT", "LATE_END_ONLINE",
               "LATE_END_OFFLINE", "CONSUMPTION_DISPUTED", "REFUND_REJECTED",
               "VENUE_OVER_CAPACITY", "COMPLAINT_UNANSWERED"},
}
EVENT_RULES = {"CONSUMPTION_DISPUTED", "REFUND_REJECTED", "FUND_UNMATCHED_DEPOSIT",
               "FUND_MISSING_IN_STATEMENT", "FUND_SHORTFALL", "RISK_HIGH"}


def _policy() -> dict[str, Any]:
    return dict(load_settings({"DATABASE_URL": "sqlite://"}, environ={}).policy)


def test_the_catalogue_holds_every_code_of_rules_md_in_order() -> None:
    assert list(CATALOGUE) == RULES_MD_CODES
    assert all(code == spec.code for code, spec in CATALOGUE.items())


def test_each_rule_has_the_severity_of_rules_md() -> None:
    for code, spec in CATALOGUE.items():
        expected = next((s for s, codes in SEVERITY.items() if code in codes), "high")
        assert spec.severity == expected, code


def test_every_rule_has_titles_a_legal_basis_and_a_scope() -> None:
    for spec in CATALOGUE.values():
        assert spec.title_zh and spec.title_en and spec.legal_basis
        assert spec.scope in {"session", "registry", "escrow"}
    assert "40号" in CATALOGUE["LATE_END_OFFLINE"].legal_basis
    assert "1279号" in CATALOGUE["PRICE_ABOVE_GUIDE"].legal_basis
    assert "53号" in CATALOGUE["OPERATING_WHILE_SUSPENDED"].legal_basis


def test_every_scanned_rule_has_an_evaluator_and_event_rules_have_none() -> None:
    scanned = {code for code, spec in CATALOGUE.items() if spec.detected_by == "scan"}
    assert scanned == evaluated_codes()
    assert {c for c, s in CATALOGUE.items() if s.detected_by == "event"} == EVENT_RULES


def test_every_parameter_named_by_a_rule_is_in_config() -> None:
    for entry in catalogue_with_parameters(_policy()):
        assert set(entry["parameters"]) == set(CATALOGUE[entry["code"]].parameters)
    by_code = {e["code"]: e for e in catalogue_with_parameters(_policy())}
    assert by_code["LATE_END_OFFLINE"]["parameters"]["late_end_offline"] == "20:30"
    assert by_code["PREPAY_OVER_AMOUNT"]["parameters"] == {"prepay_max_amount_fen": 500000}
    assert by_code["PRICE_ABOVE_GUIDE"]["parameters"]["offline_float"] == 0.05
    assert by_code["NOT_NONPROFIT"]["parameters"] == {"nonprofit_uscc_prefix": "52"}


def test_a_regulator_reads_the_catalogue_with_the_parameters_in_force(client: FlaskClient,
                                                                      make: Factory) -> None:
    resp = client.get("/api/v1/rules", headers=make.headers("regulator"))
    assert resp.status_code == 200
    assert [r["code"] for r in resp.json] == RULES_MD_CODES
    late = next(r for r in resp.json if r["code"] == "LATE_END_OFFLINE")
    assert set(late) == {"code", "title", "severity", "legal_basis", "parameters"}
    assert late["title"] == "线下培训结束时间晚于20:30 / Offline session ends too late"
    assert late["severity"] == "medium"
    assert late["parameters"]["late_end_offline"] == "20:30"


def test_an_institution_reads_the_catalogue_and_a_parent_may_not(client: FlaskClient,
                                                                 make: Factory) -> None:
    inst = make.institution()
    assert client.get("/api/v1/rules",
                      headers=make.headers("institution", institution=inst)).status_code == 200
    resp = client.get("/api/v1/rules", headers=make.headers("parent"))
    assert resp.status_code == 403
    assert resp.json["code"] == 403
    assert client.get("/api/v1/rules").status_code == 401


def test_the_catalogue_shows_configured_values_not_defaults(client: FlaskClient,
                                                            make: Factory, app: Any) -> None:
    app.config["SUPERVISION"] = with_policy(app.config["SUPERVISION"], "rules",
                                            late_end_offline="20:00")

    resp = client.get("/api/v1/rules", headers=make.headers("regulator"))
    late = next(r for r in resp.json if r["code"] == "LATE_END_OFFLINE")
    assert late["parameters"]["late_end_offline"] == "20:00"
