"""Schemathesis fuzzes the whole JSON API in-process against the WSGI application, with every
check, operation by operation and then in stateful sequences: no request, however odd, may get
a 5xx or a status its route does not document.

The run is deterministic (a fixed seed, a fixed example budget, no example database, time
frozen) on a small city: a town of two streets, the case taxonomy, a household, with an
administrator's token so every route is reachable.
"""

import datetime as dt

import pytest
import schemathesis
import time_machine
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from linli.cases.seeding import load_reference_data
from linli.core.roles import Role
from linli.core.services import api_token_issue
from linli.core.testing.factories import Town, make_id_number, make_user
from linli.people.services import household_create, person_create
from linli.wsgi import application

SEED = 20261201
NOW = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)
BUDGET = settings(
    max_examples=4,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
# Rules the OpenAPI document cannot state (an ID number's check digit, a category code that
# exists, a point inside a grid) refuse schema-valid input with 400 or 422: that is the
# answer such a request should get, so the check accepts it.
ACCEPTED = ["2XX", 400, 401, 403, 404, 409, 422]


# Loaded when the tests are collected: the document needs no database.
schema = schemathesis.openapi.from_wsgi(
    "/api/v1/openapi.json",
    application,
    config=schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "headers": {"Accept-Language": "en"},
            "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED}},
            "phases": {
                "stateful": {
                    "max-steps": 8,
                    "inference": {"algorithms": ["location-headers", "dependency-analysis"]},
                }
            },
        }
    ),
)


@schema.auth(refresh_interval=None)
class AdminToken:
    """The token schemathesis sends, and leaves out or spoils when it checks that the API
    refuses requests without a valid one (`city` below issues it)."""

    key = ""

    def get(self, case, context):
        return AdminToken.key

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@pytest.fixture(scope="module")
def city(django_db_setup, django_db_blocker):
    """The small city, built once for the module's sixty-odd tests (each runs in a transaction
    rolled back after it) and emptied at the end, as every other test expects."""
    with django_db_blocker.unblock():
        town = Town()
        load_reference_data()
        admin = make_user("fuzzadmin", Role.ADMIN, [town.city])
        household = household_create(
            actor=admin, number="H0001", address="张家 1 号", building_id=town.building.id
        )
        person_create(
            actor=admin,
            household_id=household.id,
            relation="head",
            name="张大山",
            id_number=make_id_number(birth=dt.date(1950, 3, 1)),
            phone="13800138000",
        )
        _token, AdminToken.key = api_token_issue(actor=None, user=admin, name="fuzz")
        yield
        call_command("flush", interactive=False, verbosity=0)


@pytest.fixture
def frozen(city, db):
    """Time stands still: generated dates meet the same calendar on every run. And, as in
    Django's test client, the end of a request leaves the connection open: it holds the test's
    transaction (PostgreSQL would otherwise close it after the first call)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        with time_machine.travel(NOW, tick=False):
            yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@schema.parametrize()
@BUDGET
def test_no_operation_answers_a_server_error_or_an_undocumented_status(case, frozen):
    case.call_and_validate()


def test_no_sequence_of_calls_does_either(frozen):
    schema.as_state_machine().run(settings=BUDGET)
