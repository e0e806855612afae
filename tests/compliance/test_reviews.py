"""Reviews (API.md §11): the parent of an enrollment reviews once, after a confirmed class."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from supervision.complaints import submit_review
from supervision.errors import Forbidden
from supervision.models import Review

from ..support.complaints import counts, error_of
from ..support.escrow_world import World
from ..support.parties import party


def attended(client: FlaskClient, w: World) -> tuple[dict[str, Any], int]:
    enrollment = w.paid_enrollment(client)
    resp = w.attend(client, [enrollment["id"]])
    assert resp.status_code == 201, resp.json
    return enrollment, int(resp.json["consumptions"][0]["id"])


def review_url(enrollment: dict[str, Any]) -> str:
    return f"/api/v1/enrollments/{enrollment['id']}/review"


def test_a_parent_reviews_once_a_class_is_confirmed(client: FlaskClient, w: World) -> None:
    enrollment, consumption_id = attended(client, w)
    assert client.post(f"/api/v1/consumptions/{consumption_id}/confirm",
                       headers=w.parent.headers).status_code == 200
    resp = client.post(review_url(enrollment), headers=w.parent.headers,
                       json={"stars": 4, "text": "老师讲解耐心"})
    assert resp.status_code == 201, resp.json
    assert (resp.json["stars"], resp.json["text"], resp.json["institution_id"],
            resp.json["enrollment_id"]) == (4, "老师讲解耐心", w.institution.id, enrollment["id"])
    stored = w.db.get(Review, resp.json["id"])
    assert stored is not None and stored.parent_id == w.parent.id


def test_a_review_before_any_confirmed_class_is_refused_as_not_eligible(
        client: FlaskClient, w: World) -> None:
    paid = w.paid_enrollment(client)
    before = counts(w.db)
    resp = client.post(review_url(paid), headers=w.parent.headers,
                       json={"stars": 5, "text": "很好"})
    assert resp.status_code == 422 and error_of(resp)["rule"] == "REVIEW_NOT_ELIGIBLE"
    # A class recorded but awaiting the parent's confirmation is not enough either.
    pending, _ = attended(client, w)
    before = counts(w.db)
    resp = client.post(review_url(pending), headers=w.parent.headers,
                       json={"stars": 5, "text": "很好"})
    assert resp.status_code == 422 and resp.json["rule"] == "REVIEW_NOT_ELIGIBLE"
    assert counts(w.db) == before


def test_a_second_review_of_the_same_enrollment_is_a_conflict(client: FlaskClient,
                                                               w: World) -> None:
    enrollment, consumption_id = attended(client, w)
    client.post(f"/api/v1/consumptions/{consumption_id}/confirm", headers=w.parent.headers)
    first = client.post(review_url(enrollment), headers=w.parent.headers,
                        json={"stars": 2, "text": "一般"})
    assert first.status_code == 201
    before = counts(w.db)
    again = client.post(review_url(enrollment), headers=w.parent.headers,
                        json={"stars": 5, "text": "改主意了"})
    assert again.status_code == 409, again.json
    assert counts(w.db) == before
    assert w.db.get(Review, first.json["id"]).stars == 2  # type: ignore[union-attr]


def test_only_the_parent_of_the_enrollment_reviews_it(client: FlaskClient, w: World) -> None:
    enrollment, consumption_id = attended(client, w)
    client.post(f"/api/v1/consumptions/{consumption_id}/confirm", headers=w.parent.headers)
    other_parent = party(w.db, "parent")
    before = counts(w.db)
    body = {"stars": 1, "text": "差评"}
    assert client.post(review_url(enrollment), headers=other_parent.headers,
                       json=body).status_code == 404
    for who in (w.staff, w.regulator):
        assert client.post(review_url(enrollment), headers=who.headers,
                           json=body).status_code == 403
        with pytest.raises(Forbidden):
            submit_review(w.db, who.actor, enrollment["id"], stars=1, text="差评")
    assert client.post("/api/v1/enrollments/999999999/review", headers=w.parent.headers,
                       json=body).status_code == 404
    assert counts(w.db) == before


@pytest.mark.parametrize("body, field", [
    ({"stars": 0, "text": "差"}, "stars"),
    ({"stars": 6, "text": "好"}, "stars"),
    ({"stars": "5", "text": "好"}, "stars"),
    ({"stars": 5}, "text"),
    ({"stars": 5, "text": "好", "institution_id": 1}, "institution_id"),
])
def test_a_review_that_does_not_hold_is_refused(client: FlaskClient, w: World,
                                                body: dict[str, Any], field: str) -> None:
    enrollment, consumption_id = attended(client, w)
    client.post(f"/api/v1/consumptions/{consumption_id}/confirm", headers=w.parent.headers)
    before = counts(w.db)
    resp = client.post(review_url(enrollment), headers=w.parent.headers, json=body)
    assert resp.status_code == 422 and field in error_of(resp)["errors"]
    assert counts(w.db) == before
