"""Residents see their own rows through `for_resident`, each row once: every scoped model.

A resident's household has several members, so a join from a person to the household's
members meets the resident's own row once per member; `restrict` must still answer it once
(or `get_for` would fail with MultipleObjectsReturned, a 500).
"""

import datetime as dt
from collections import Counter
from decimal import Decimal

import pytest
from django.apps import apps

from linli.core.roles import Role
from linli.core.scoping import ScopedQuerySet
from linli.core.services import api_token_issue
from linli.core.testing.factories import make_user
from linli.people import services as people_services
from linli.people.models import Person

SCOPED_MODELS = sorted(
    (
        model
        for model in apps.get_models()
        if isinstance(model._default_manager.all(), ScopedQuerySet)
    ),
    key=lambda model: model._meta.label,
)


def _resident_case(town, resident):
    from linli.cases.models import Category
    from linli.cases.seeding import load_reference_data
    from linli.cases.services import case_report

    load_reference_data()
    category = Category.objects.filter(parent__isnull=False).order_by("code").first()
    return case_report(
        actor=resident, category_id=category.pk, description="楼道灯坏了", lat=37.005, lng=118.005
    )


def _resident_monitoring(town, people, admin) -> None:
    """Monitoring records on the resident's own household: a signal, the alert a screening
    round raises from it, its home visit and a key household. Residents see none of them."""
    from django.utils import timezone

    from linli.monitoring import keys, rules, screening, signals, visits

    rules.ensure_default_rules()
    today = timezone.localdate()
    signals.signal_record(
        source="external",
        household_id=people.household.id,
        kind="hospital_bill",
        occurred_on=today,
        amount=Decimal("52000.00"),
        key="resident:hospital",
    )
    screening.screen_now(place=town.street, as_of=today, actor=admin)
    visits.visits_create_for_open_alerts()
    keys.key_household_add(actor=admin, household_id=people.household.id, reason="大病支出")


@pytest.fixture
def resident(town, people, admin):
    """张小川's account; the household has two members and records on both."""
    account = make_user("resident", Role.RESIDENT)
    Person.objects.filter(pk=people.child.pk).update(account=account)
    for person in (people.head, people.child):
        people_services.financial_record_create(
            actor=admin,
            person_id=person.id,
            category="income",
            kind="wage",
            amount=Decimal("1000.00"),
            valid_from=dt.date(2026, 1, 1),
        )
    _resident_case(town, account)
    _resident_monitoring(town, people, admin)
    return account


def test_every_scoped_model_is_walked():
    labels = {model._meta.label for model in SCOPED_MODELS}
    assert {"people.Person", "people.Household", "cases.Case", "core.AuditEntry"} <= labels


@pytest.mark.parametrize("model", SCOPED_MODELS, ids=lambda model: model._meta.label)
def test_a_resident_sees_each_of_their_rows_once(model, resident, people):
    visible = list(model.objects.restrict(resident).values_list("pk", flat=True))
    repeated = [pk for pk, n in Counter(visible).items() if n > 1]
    assert not repeated, f"{model._meta.label} rows {repeated} come back more than once"
    assert model.objects.restrict(resident).count() == len(set(visible))
    for pk in visible:
        assert model.objects.get_for(resident, pk).pk == pk
    expected = {
        "people.Person": {people.head.pk, people.child.pk},
        "people.Household": {people.household.pk},
        "people.FinancialRecord": 2,
        "cases.Case": 1,
    }.get(model._meta.label, 0)
    if isinstance(expected, set):
        assert set(visible) == expected
    else:
        assert len(visible) == expected
    assert not model.objects.restrict(resident, "change").exists()


# Monitoring models without a scoped default manager: reached only through their scoped
# parent (a visit's records, a key household's follow-ups) or global reference data.
UNSCOPED_MONITORING = {
    "monitoring.VisitRecord",
    "monitoring.FollowUp",
    "monitoring.RiskRule",
    "monitoring.SignalFeed",
}


def test_a_resident_sees_nothing_of_monitoring(resident, people):
    """Monitoring is staff work: not even the resident's own household's alerts, visits, key
    record or signals. Every monitoring model is scoped, restricted, or declared above."""
    from linli.monitoring.models import Alert, HomeVisit, KeyHousehold, Signal

    for model in (Alert, HomeVisit, KeyHousehold, Signal):
        assert model.objects.filter(place_path=people.household.place_path).exists()
    for model in apps.get_app_config("monitoring").get_models():
        rows = model._default_manager.all()
        if model._meta.label in UNSCOPED_MONITORING:
            assert not hasattr(rows, "restrict"), f"{model._meta.label} is restricted now"
            continue
        assert hasattr(rows, "restrict"), f"{model._meta.label}: scope it or declare it"
        for action in ("view", "change"):
            assert not rows.restrict(resident, action).exists(), model._meta.label


def test_a_resident_opens_their_own_person_record_over_the_api(client, resident, people):
    _, key = api_token_issue(actor=None, user=resident, name="app")
    response = client.get(
        f"/api/v1/people/persons/{people.child.id}", headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200, response.content
    assert response.json()["id"] == people.child.id
