"""The eligibility-check API: a household in the request under a stored, changed or inline
policy; a registered household by id within the jurisdiction; bad input refused with 422
naming the field; the schema documented with examples."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linli.assistance.policy import demo_parameters
from linli.core.roles import Role
from linli.core.testing.factories import make_user

from . import fixtures_assess
from .fixtures_assess import ON, Caller, body

# The fixtures this module uses.
caseworker = fixtures_assess.caseworker
demo_policies = fixtures_assess.demo_policies
registered = fixtures_assess.registered
urban_version = fixtures_assess.urban_version

pytestmark = pytest.mark.django_db


def errors_of(response) -> dict[str, str]:
    assert response.status_code == 422, response.content
    data = response.json()
    assert data["code"] == "validation_error", data
    return {item["field"]: item["message"] for item in data["errors"]}


# --- a household in the request ----------------------------------------------------------------


def test_stored_version_worked_example(caseworker, urban_version):
    response = Caller(caseworker).post(body(policy={"policy_version_id": urban_version.pk}))
    assert response.status_code == 200, response.content
    data = response.json()
    # One pensioner, 600 counted: per capita 600 < 800; 800 × 1 − 600 = 200.
    assert data["language"] == "en"
    assert data["policy_version_id"] == urban_version.pk
    assert data["per_capita"] == "600.00" and data["members_counted"] == 1
    low = data["results"]["minimum_living"]
    assert low["eligible"] is True and low["monthly_amount"] == "200.00"
    assert low["classification"] == "household"
    assert low["classification_label"] == "The household as a whole"
    assert low["sentences"][-1] == (
        "Eligible. Monthly amount = standard 800.00 yuan × 1 members − counted income "
        "600.00 yuan = 200.00 yuan."
    )
    assert low["trace"][-1]["code"] == "minimum_living.amount"
    assert low["trace"][-1]["figures"]["amount"] == "200.00"
    assert "张大山: Retirement pension of 600.00 yuan a month is counted." in data["sentences"]
    # Every program is answered when none is asked for.
    assert set(data["results"]) == {
        "minimum_living",
        "extreme_poverty",
        "marginal",
        "rigid_expenditure",
        "temporary",
        "heating",
        "one_off",
        "price_subsidy",
    }
    # 65, no supporter, 600 < 1040: 特困 too, 1040 + 100 (no assessment) = 1140.
    assert data["results"]["extreme_poverty"]["monthly_amount"] == "1140.00"


def test_trying_a_changed_standard(caseworker, urban_version):
    request = body(
        policy={"policy_version_id": urban_version.pk, "changes": {"standard": "850.00"}},
        programs=["minimum_living"],
    )
    data = Caller(caseworker).post(request).json()
    # 850 − 600 = 250.
    assert data["results"]["minimum_living"]["monthly_amount"] == "250.00"
    assert list(data["results"]) == ["minimum_living"]


def test_inline_parameters_need_no_stored_policy(caseworker):
    params = demo_parameters(rural=True).as_json()  # standard 700
    request = body(policy={"parameters": params}, programs=["minimum_living", "temporary"])
    request["options"] = {"hardship_amount": "5000", "especially_hard": True}
    data = Caller(caseworker).post(request).json()
    assert data["policy_version_id"] is None
    # 700 − 600 = 100.
    assert data["results"]["minimum_living"]["monthly_amount"] == "100.00"
    # Especially hard: 6 × 700 × 1 = 4200 < 5000; above the street's 3000.
    temporary = data["results"]["temporary"]
    assert temporary["amount"] == "4200.00" and temporary["approval_tier"] == "district"


def test_sentences_follow_accept_language(caseworker, urban_version):
    response = Caller(caseworker, "zh-hans").post(
        body(policy={"policy_version_id": urban_version.pk}, programs=["marginal"])
    )
    data = response.json()
    assert data["language"] == "zh-hans"
    assert all("%(" not in s for s in data["results"]["marginal"]["sentences"])


def test_the_registry_facts_in_the_request(caseworker, urban_version):
    household = {
        "care_arrangement": "centralised",
        "members": [
            {
                "name": "孤老",
                "birth_date": "1940-01-01",
                "self_care": [
                    {
                        "assessed_on": "2026-01-10",
                        "eating": False,
                        "dressing": False,
                        "bed_transfer": False,
                        "toileting": False,
                        "indoor_walking": True,
                        "bathing": True,
                    }
                ],
                "supporters": [{"relation": "child", "able_to_support": False, "name": "儿子"}],
            }
        ],
    }
    request = body(
        household=household,
        policy={"policy_version_id": urban_version.pk},
        programs=["extreme_poverty"],
    )
    result = Caller(caseworker).post(request).json()["results"]["extreme_poverty"]
    # 4 items not managed: wholly dependent, 1040 + 800 = 1840; centralised care.
    assert result["classification"] == "centralised/dependent"
    assert result["monthly_amount"] == "1840.00"
    assert result["covered"][0]["key"] == "m1"


# --- refusals ----------------------------------------------------------------------------------


def _member(**more):
    return {"name": "甲", "birth_date": "1970-01-01", **more}


@pytest.mark.parametrize(
    ("income", "field"),
    [
        ({"kind": "wage", "amount": "-1"}, "amount"),
        ({"kind": "wage", "amount": "abc"}, "amount"),
        ({"kind": "wage", "amount": "1e20"}, "amount"),
        ({"kind": "wage", "amount": "12.345"}, "amount"),
        ({"kind": "wage", "amount": 10**30}, "amount"),
        ({"kind": "lottery", "amount": "10"}, "kind"),
        ({"kind": "savings", "amount": "10"}, "kind"),  # an asset, not an income
        ({"kind": "wage"}, "amount"),
        ({"kind": "wage", "amount": "10", "valid_from": "2026-13-01"}, "valid_from"),
    ],
)
def test_bad_incomes_are_named(caseworker, income, field):
    request = body(
        household={"members": [_member(incomes=[income])]},
        policy={"parameters": demo_parameters(rural=False).as_json()},
    )
    fields = errors_of(Caller(caseworker).post(request))
    assert f"household.members.0.incomes.0.{field}" in fields


def test_a_member_listed_twice(caseworker):
    inline = {"parameters": demo_parameters(rural=False).as_json()}
    same_key = body(
        household={"members": [_member(key="a"), _member(key="a", name="乙")]}, policy=inline
    )
    assert "household.members.1.key" in errors_of(Caller(caseworker).post(same_key))
    same_person = body(household={"members": [_member(), _member()]}, policy=inline)
    fields = errors_of(Caller(caseworker).post(same_person))
    assert "household.members.1" in fields and "listed twice" in fields["household.members.1"]


def test_too_many_members(caseworker):
    members = [_member(name=f"人{i}") for i in range(10_000)]
    request = body(
        household={"members": members},
        policy={"parameters": demo_parameters(rural=False).as_json()},
    )
    response = Caller(caseworker).post(request)
    # Either refused by size before parsing, or by the schema naming the list.
    assert response.status_code in (400, 413, 422)
    if response.status_code == 422:
        assert "household.members" in errors_of(response)


def test_no_members_and_dates_out_of_order(caseworker):
    inline = {"parameters": demo_parameters(rural=False).as_json()}
    assert "household.members" in errors_of(
        Caller(caseworker).post(body(household={"members": []}, policy=inline))
    )
    bad_period = _member(
        incomes=[
            {"kind": "wage", "amount": "1", "valid_from": "2026-02-01", "valid_to": "2026-01-01"}
        ],
        died_on="1960-01-01",
    )
    fields = errors_of(
        Caller(caseworker).post(body(household={"members": [bad_period]}, policy=inline))
    )
    assert {"household.members.0.incomes.0.valid_to", "household.members.0.died_on"} <= set(fields)


def test_hostile_text(caseworker):
    inline = {"parameters": demo_parameters(rural=False).as_json()}
    control = body(household={"members": [_member(name="张\x07三")]}, policy=inline)
    assert "household.members.0.name" in errors_of(Caller(caseworker).post(control))
    html = body(household={"members": [_member(name="<b>李四</b>")]}, policy=inline)
    response = Caller(caseworker).post(html)
    assert response.status_code == 200
    # Returned as data, never as markup: the page escapes it on display.
    assert (
        "<b>李四</b> (relation not recorded, aged 56) is counted as a member."
        in (response.json()["sentences"])
    )


def test_policy_source_must_be_one(caseworker, urban_version):
    none = errors_of(Caller(caseworker).post(body(policy={})))
    assert "policy" in none
    both = body(
        policy={
            "policy_version_id": urban_version.pk,
            "parameters": demo_parameters(rural=False).as_json(),
        }
    )
    assert "policy" in errors_of(Caller(caseworker).post(both))
    changes_alone = body(
        policy={"parameters": demo_parameters(rural=False).as_json(), "changes": {"standard": 1}}
    )
    assert "policy" in errors_of(Caller(caseworker).post(changes_alone))


def test_bad_policy_figures_are_named(caseworker, urban_version):
    unknown = body(policy={"policy_version_id": urban_version.pk, "changes": {"standrad": 900}})
    assert "policy.changes.standrad" in errors_of(Caller(caseworker).post(unknown))
    negative = body(policy={"policy_version_id": urban_version.pk, "changes": {"standard": "-5"}})
    assert "policy.changes.standard" in errors_of(Caller(caseworker).post(negative))
    incomplete = body(policy={"parameters": {"standard": "800"}})
    assert "policy.parameters.extreme_poverty_standard" in errors_of(
        Caller(caseworker).post(incomplete)
    )


def test_date_before_the_policy_starts(caseworker, urban_version):
    request = body(policy={"policy_version_id": urban_version.pk})
    request["on"] = "2025-12-31"  # the demo version starts on 2026-01-01
    fields = errors_of(Caller(caseworker).post(request))
    assert "2026-01-01" in fields["on"]


def test_unknown_or_unreadable_version(caseworker, town, urban_version):
    fields = errors_of(Caller(caseworker).post(body(policy={"policy_version_id": 999999})))
    assert "policy.policy_version_id" in fields


def test_unknown_program_and_option(caseworker, urban_version):
    request = body(policy={"policy_version_id": urban_version.pk}, programs=["lottery"])
    assert "programs.0" in errors_of(Caller(caseworker).post(request))
    request = body(policy={"policy_version_id": urban_version.pk}, options={"lucky": True})
    assert "options.lucky" in errors_of(Caller(caseworker).post(request))


def test_not_json(caseworker):
    response = Caller(caseworker).client.post(
        "/api/v1/assistance/assess",
        "{oops",
        content_type="application/json",
        headers=Caller(caseworker).headers,
    )
    assert response.status_code == 400 and response.json()["code"] == "invalid_json"


def test_residents_and_strangers_may_not_assess(town, urban_version):
    resident = make_user("resident", Role.RESIDENT)
    response = Caller(resident).post(body(policy={"policy_version_id": urban_version.pk}))
    assert response.status_code == 403
    anonymous = Caller(resident).client.post(
        "/api/v1/assistance/assess", body(), content_type="application/json"
    )
    assert anonymous.status_code in (401, 403)


# --- a registered household --------------------------------------------------------------------


def test_registered_household_by_id(caseworker, demo_policies, registered):
    url = f"/api/v1/assistance/households/{registered.pk}/assessment"
    response = Caller(caseworker).get(url, {"on": ON.isoformat()})
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["household_id"] == registered.pk
    # See fixtures_assess.registered: 1100 counted for 2 members, per capita 550.
    assert data["members_counted"] == 2 and data["per_capita"] == "550.00"
    assert data["results"]["minimum_living"]["monthly_amount"] == "500.00"
    ep = data["results"]["extreme_poverty"]
    # The elder: 78, the one able supporter has died, 2 items not managed: 1040 + 400.
    assert ep["eligible"] and ep["monthly_amount"] == "1440.00"
    assert ep["classification"] == "dispersed/partial"
    # Rigid: 6000 is not more than half of 12 × 1100 = 13,200.
    assert data["results"]["rigid_expenditure"]["eligible"] is False


def test_registered_household_programs_filter(caseworker, demo_policies, registered):
    url = f"/api/v1/assistance/households/{registered.pk}/assessment"
    data = Caller(caseworker).get(url, {"on": ON.isoformat(), "programs": "marginal"}).json()
    assert list(data["results"]) == ["marginal"]


def test_registered_household_outside_the_jurisdiction_is_not_found(
    town, demo_policies, registered
):
    neighbour = make_user("neighbourworker", Role.COMMUNITY_WORKER, [town.other_community])
    url = f"/api/v1/assistance/households/{registered.pk}/assessment"
    assert Caller(neighbour).get(url, {"on": ON.isoformat()}).status_code == 404
    assert (
        Caller(neighbour).get("/api/v1/assistance/households/999999/assessment").status_code == 404
    )


def test_registered_household_without_a_policy(caseworker, registered):
    url = f"/api/v1/assistance/households/{registered.pk}/assessment"
    response = Caller(caseworker).get(url, {"on": ON.isoformat()})
    assert response.status_code == 422 and response.json()["code"] == "no_policy"


def test_registered_household_before_the_policy(caseworker, demo_policies, registered):
    url = f"/api/v1/assistance/households/{registered.pk}/assessment"
    response = Caller(caseworker).get(url, {"on": "2025-06-01"})
    assert response.status_code == 422 and response.json()["code"] == "no_policy"


# --- documentation -----------------------------------------------------------------------------


def test_openapi_documents_the_schemas_with_examples(client):
    document = client.get("/api/v1/openapi.json").json()
    assess = document["paths"]["/api/v1/assistance/assess"]["post"]
    assert set(assess["responses"]) >= {"200", "422"}
    schemas = document["components"]["schemas"]
    request_examples = schemas["AssessIn"]["examples"]
    assert request_examples[0]["household"]["members"][0]["name"] == "张大山"
    assert request_examples[1]["policy"]["changes"] == {"standard": "850.00"}
    assert "parameters" in request_examples[2]["policy"]
    assert schemas["AssessmentOut"]["examples"][0]["results"]["minimum_living"]["eligible"]
    by_id = document["paths"]["/api/v1/assistance/households/{household_id}/assessment"]["get"]
    assert "404" in by_id["responses"]


# --- hostile bodies ----------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _leaves(value, path=()):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, index))
    yield path


def _replaced(value, path, new):
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replaced(value[path[0]], path[1:], new)
    return copy


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_value_anywhere_is_answered_never_a_server_error(caseworker, data):
    valid = body(
        policy={"parameters": demo_parameters(rural=False).as_json()},
        options={"hardship_amount": "100", "receiving": {"minimum_living": 1}},
        programs=["minimum_living", "temporary"],
    )
    valid["household"]["members"][0] |= {
        "self_care": [
            {
                "assessed_on": "2026-01-01",
                "eating": True,
                "dressing": True,
                "bed_transfer": True,
                "toileting": True,
                "indoor_walking": True,
                "bathing": True,
            }
        ],
        "supporters": [{"relation": "child", "able_to_support": False}],
        "assets": [{"kind": "savings", "amount": "100"}],
        "expenditures": [{"kind": "medical", "amount": "100", "valid_from": "2026-01-01"}],
        "illnesses": [{"illness": "x"}],
    }
    paths = list(_leaves(valid))
    path = data.draw(st.sampled_from(paths))
    request = _replaced(valid, path, data.draw(json_values))
    response = Caller(caseworker).post(request if isinstance(request, dict) else {"x": request})
    assert response.status_code in (200, 400, 422), (path, response.content)
