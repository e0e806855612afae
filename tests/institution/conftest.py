"""A world with an institution, and its clerk signed in to the portal."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.support.escrow_world import World, world
from tests.support.factories import Factory
from tests.support.institution import Clerk
from tests.support.parties import token_in


@pytest.fixture
def w(db: Session, make: Factory) -> World:
    return world(db, make)


@pytest.fixture
def clerk(client: FlaskClient, w: World) -> Clerk:
    c = Clerk(client)
    assert c.sign_in(token_in(w.staff.headers)).status_code == 302
    return c
