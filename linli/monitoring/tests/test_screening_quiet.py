"""Screening does not raise again what people closed: a household whose alert of a rule was
closed by a visit (no risk), a referral or a dismissal is not flagged again by that rule within
the rule's quiet period (`quiet_days`, default 90) while the condition holds, unless the hit
is now more severe. Alerts screening resolved itself (condition gone) may come back."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from linli.core.errors import ValidationFailed
from linli.monitoring import rules as rule_data
from linli.monitoring.models import Alert, RiskRule, RuleKind, Severity
from linli.monitoring.rules import rule_version_add
from linli.monitoring.screening import quiet_since, screen

from .fixtures_screening import *  # noqa: F403  (the fixtures)
from .fixtures_screening import AS_OF, household, person, record

pytestmark = pytest.mark.django_db

RULE = "marginal-income"


def poor(building, income=300):
    h = household(building)
    record(person(h), "business", income)
    return h


def at(day: dt.date, hour: int = 10) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


def close(alert: Alert, state: str, on: dt.date, **fields) -> None:
    """Close an alert as people would (a visit, a referral, a dismissal)."""
    Alert.objects.filter(pk=alert.pk).update(
        state=state, resolution=fields.pop("resolution", "closed"), resolved_at=at(on), **fields
    )


def first_alert(town, h) -> Alert:
    counts = screen(place_path=town.district.path, as_of=AS_OF)
    assert counts["opened"] >= 1
    return Alert.objects.get(household=h, rule_code=RULE)


@pytest.mark.parametrize(
    ("state", "fields"),
    [
        ("resolved", {"resolution": "Home visit found no risk: fine"}),
        ("referred", {"resolution": "Referred to assistance: application 7"}),
        ("dismissed", {"resolution": "A false alarm"}),
    ],
)
def test_closed_by_people_is_not_raised_again_within_the_quiet_period(
    town, policies, rules, screener, state, fields
):
    h = poor(town.building)
    alert = first_alert(town, h)
    if state == "dismissed":
        fields = {**fields, "dismissed_by": screener}
    close(alert, state, AS_OF - dt.timedelta(days=3), **fields)
    counts = screen(place_path=town.district.path, as_of=AS_OF)
    assert counts["opened"] == 0 and counts["resolved"] == 0
    assert counts["held"] == 1
    assert counts["by_rule"][RULE] == 1  # still a hit, only not raised
    assert Alert.objects.filter(household=h, rule_code=RULE).count() == 1
    # A third round over the unchanged registry: still nothing.
    assert screen(place_path=town.district.path, as_of=AS_OF)["opened"] == 0


@pytest.mark.parametrize("state", ["resolved", "referred", "dismissed"])
def test_raised_again_after_the_quiet_period(town, policies, rules, state):
    h = poor(town.building)
    alert = first_alert(town, h)
    close(alert, state, AS_OF - dt.timedelta(days=91))
    counts = screen(place_path=town.district.path, as_of=AS_OF)
    assert counts["opened"] == 1 and counts["held"] == 0
    assert Alert.objects.filter(household=h, rule_code=RULE, state="open").count() == 1


def test_the_quiet_period_counts_back_from_the_rounds_date(town, policies, rules):
    h = poor(town.building)
    alert = first_alert(town, h)
    close(alert, "resolved", AS_OF - dt.timedelta(days=90))  # the 90th day: still quiet
    assert screen(place_path=town.district.path, as_of=AS_OF)["opened"] == 0
    # The next day's round is past the period.
    counts = screen(place_path=town.district.path, as_of=AS_OF + dt.timedelta(days=1))
    assert counts["opened"] == 1
    rule = RiskRule.objects.get(code=RULE)
    assert quiet_since(rule, AS_OF) == at(AS_OF - dt.timedelta(days=90), 0)


def test_screening_resolved_alert_comes_back_with_its_condition(town, policies, rules):
    h = poor(town.building)
    alert = first_alert(town, h)
    spouse = person(h, relation="spouse")
    record(spouse, "business", 5000)
    assert screen(place_path=town.district.path, as_of=AS_OF)["resolved"] == 1
    alert.refresh_from_db()
    assert alert.state == "resolved" and alert.closed_by_screening
    # The spouse moves out: the condition is back within days, and is raised again.
    h.members.filter(pk=spouse.pk).update(status="moved_out")
    counts = screen(place_path=town.district.path, as_of=AS_OF)
    assert counts["opened"] == 1 and counts["held"] == 0
    assert Alert.objects.filter(household=h, rule_code=RULE, state="open").count() == 1


def test_people_closed_alerts_are_not_marked_as_screenings(town, policies, rules):
    h = poor(town.building)
    alert = first_alert(town, h)
    assert alert.closed_by_screening is False
    close(alert, "resolved", AS_OF)
    alert.refresh_from_db()
    assert alert.closed_by_screening is False


def test_a_more_severe_hit_is_raised_despite_the_quiet_period(town, policies, rules, screener):
    h = poor(town.building)
    alert = first_alert(town, h)
    assert alert.severity == Severity.HIGH
    close(alert, "resolved", AS_OF - dt.timedelta(days=5))
    # The same or a lower severity stays quiet …
    rule_version_add(
        actor=screener, code=RULE, valid_from=dt.date(2026, 6, 1), severity=Severity.MEDIUM
    )
    assert screen(place_path=town.district.path, as_of=AS_OF)["opened"] == 0
    # … a higher one is raised.
    rule_version_add(
        actor=screener, code=RULE, valid_from=dt.date(2026, 6, 15), severity=Severity.SEVERE
    )
    counts = screen(place_path=town.district.path, as_of=AS_OF)
    assert counts["opened"] == 1 and counts["held"] == 0
    new = Alert.objects.get(household=h, rule_code=RULE, state="open")
    assert new.severity == Severity.SEVERE


def test_only_the_same_rule_code_and_household_are_quiet(town, policies, rules):
    h = poor(town.building)
    neighbour = poor(town.building)
    alert = first_alert(town, h)
    close(alert, "dismissed", AS_OF - dt.timedelta(days=1))
    Alert.objects.filter(household=neighbour).update(
        state="resolved", resolved_at=at(AS_OF), closed_by_screening=True
    )
    counts = screen(place_path=town.district.path, as_of=AS_OF)
    assert counts["opened"] == 1 and counts["held"] == 1
    assert Alert.objects.get(household=neighbour, state="open")
    assert not Alert.objects.filter(household=h, state="open").exists()


def test_quiet_days_is_a_parameter_of_the_rule(town, policies, rules, screener):
    h = poor(town.building)
    alert = first_alert(town, h)
    close(alert, "resolved", AS_OF - dt.timedelta(days=20))
    rule_version_add(
        actor=screener, code=RULE, valid_from=dt.date(2026, 6, 1), parameters={"quiet_days": 30}
    )
    assert screen(place_path=town.district.path, as_of=AS_OF)["opened"] == 0
    version = rule_version_add(
        actor=screener, code=RULE, valid_from=dt.date(2026, 6, 15), parameters={"quiet_days": 10}
    )
    assert version.parameters == {"multiple": "1.5", "quiet_days": 10}
    assert screen(place_path=town.district.path, as_of=AS_OF)["opened"] == 1


def test_no_quiet_period_with_zero_days(town, policies, rules, screener):
    h = poor(town.building)
    alert = first_alert(town, h)
    close(alert, "dismissed", AS_OF)
    rule_version_add(
        actor=screener, code=RULE, valid_from=dt.date(2026, 6, 1), parameters={"quiet_days": 0}
    )
    assert screen(place_path=town.district.path, as_of=AS_OF)["opened"] == 1


def test_a_rule_stored_without_quiet_days_uses_the_default(town, policies, rules):
    rule = RiskRule.objects.get(code=RULE)
    rule.parameters = {"multiple": "1.5"}
    rule.save(update_fields=["parameters"])
    assert rule_data.quiet_days(rule) == rule_data.DEFAULT_QUIET_DAYS == 90
    h = poor(town.building)
    alert = first_alert(town, h)
    close(alert, "resolved", AS_OF - dt.timedelta(days=60))
    assert screen(place_path=town.district.path, as_of=AS_OF)["opened"] == 0
    close(alert, "resolved", AS_OF - dt.timedelta(days=100))
    assert screen(place_path=town.district.path, as_of=AS_OF)["opened"] == 1


def test_bad_stored_quiet_days_fall_back_to_the_default(rules):
    rule = RiskRule.objects.get(code=RULE)
    for value, days in (("x", 90), (None, 90), (-5, 0), (10**9, 10_000), ("30", 30)):
        rule.parameters = {"multiple": "1.5", "quiet_days": value}
        assert rule_data.quiet_days(rule) == days


def test_default_rules_carry_the_quiet_period(rules):
    for rule in RiskRule.objects.all():
        assert rule.parameters["quiet_days"] == 90


@pytest.mark.parametrize("value", [-1, "1.5", "soon", 10_001, True])
def test_bad_quiet_days_name_the_parameter(value):
    with pytest.raises(ValidationFailed) as caught:
        rule_data.validate_parameters(RuleKind.ELDERLY_ALONE, {"quiet_days": value})
    assert "quiet_days" in caught.value.details


def test_quiet_days_defaults_and_accepts_zero():
    assert rule_data.validate_parameters(RuleKind.ELDERLY_ALONE, {})["quiet_days"] == 90
    assert rule_data.validate_parameters(RuleKind.ELDERLY_ALONE, {"quiet_days": 0}) == {
        "age": 80,
        "grade": 2,
        "quiet_days": 0,
    }


def test_held_back_hits_cost_no_query_per_household(town, policies, rules):
    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            counts = screen(place_path=town.district.path, as_of=AS_OF)
        assert counts["opened"] == 0
        return len(ctx.captured_queries)

    homes = [poor(town.building)]
    screen(place_path=town.district.path, as_of=AS_OF)
    Alert.objects.update(state="dismissed", resolved_at=at(AS_OF))
    few = queries()
    homes += [poor(town.building) for _ in range(8)]
    homes += [poor(town.other_building) for _ in range(8)]
    screen(place_path=town.district.path, as_of=AS_OF)
    Alert.objects.filter(state="open").update(state="referred", resolved_at=at(AS_OF))
    assert queries() == few
    assert screen(place_path=town.district.path, as_of=AS_OF)["held"] == len(homes)
