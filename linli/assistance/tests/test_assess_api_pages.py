"""The eligibility check page: a household by number and a date, each program's answer and
its sentences; opened from a household by id; refusals shown on the form."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from linli.core.roles import Role
from linli.core.testing.factories import make_user

from . import fixtures_assess
from .fixtures_assess import ON

caseworker = fixtures_assess.caseworker
demo_policies = fixtures_assess.demo_policies
registered = fixtures_assess.registered
pytestmark = pytest.mark.django_db


def page(user, language="en", **query):
    client = Client()
    client.force_login(user)
    return client.get(reverse("assistance:assess"), query, headers={"Accept-Language": language})


def test_the_form_alone(caseworker):
    response = page(caseworker)
    assert response.status_code == 200
    assert b'id="assess-form"' in response.content and b"assess-result" not in response.content


def test_a_household_assessed_and_read_aloud(caseworker, demo_policies, registered):
    response = page(caseworker, household=registered.number, on=ON.isoformat())
    text = response.content.decode()
    assert response.status_code == 200
    assert 'id="per-capita">550.00<' in text
    assert "Eligible. Monthly amount = standard 800.00 yuan × 2 members − counted income " in text
    assert "1100.00 yuan = 500.00 yuan." in text
    assert 'id="result-extreme_poverty"' in text and "1440.00" in text
    # The registered spouse is named in the trace, escaped like any text.
    assert "李建国 (Spouse) is not counted: died on 2025-10-01." in text


def test_opened_from_a_household(caseworker, registered):
    response = page(caseworker, household=str(registered.pk))
    assert f'value="{registered.number}"' in response.content.decode()
    # An id outside the area, or no id at all, leaves the field empty.
    for bad in ("999999", "abc", "9" * 30):
        content = page(caseworker, household=bad).content
        assert b'name="household"' in content and b'name="household" value=' not in content


def test_temporary_assistance_options(caseworker, demo_policies, registered):
    response = page(
        caseworker,
        household=registered.number,
        on=ON.isoformat(),
        programs="temporary",
        hardship_amount="9000",
    )
    text = response.content.decode()
    # Cap 3 × 800 × 2 = 4800, above the street's 3000: the district approves.
    assert "4800.00" in text and "the district approves" in text
    assert "approving tier: District<" in text


def test_refusals_on_the_form(town, caseworker, registered):
    no_policy = page(caseworker, household=registered.number, on=ON.isoformat())
    assert b"alert-error" in no_policy.content
    neighbour = make_user("neighbourpage", Role.COMMUNITY_WORKER, [town.other_community])
    outside = page(neighbour, household=registered.number, on=ON.isoformat())
    assert "No household with this number in your area." in outside.content.decode()
    bad_date = page(caseworker, household=registered.number, on="0001-01-01")
    assert b"errorlist" in bad_date.content


def test_residents_may_not_open_it(town):
    resident = make_user("residentpage", Role.RESIDENT)
    assert page(resident).status_code == 403


def test_chinese_page(caseworker, demo_policies, registered):
    response = page(caseworker, "zh-hans", household=registered.number, on=ON.isoformat())
    assert response.status_code == 200 and "%(" not in response.content.decode()
