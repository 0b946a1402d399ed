"""Risk rules as data: parameter validation, templates, versions from a date."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linli.core.errors import PermissionDenied, ValidationFailed
from linli.core.models import AuditEntry
from linli.monitoring import rules as rule_data
from linli.monitoring.models import RiskRule, RuleKind

from .fixtures_screening import *  # noqa: F403  (the fixtures)

pytestmark = pytest.mark.django_db


def test_rules_in_force_follow_the_dates(rules, screener):
    rule_data.rule_version_add(
        actor=screener, code="elderly-alone", valid_from=dt.date(2026, 7, 1), parameters={"age": 75}
    )
    by_code = {r.code: r for r in rule_data.rules_in_force(dt.date(2026, 6, 30))}
    assert by_code["elderly-alone"].parameters["age"] == 80
    assert by_code["elderly-alone"].valid_to == dt.date(2026, 6, 30)
    by_code = {r.code: r for r in rule_data.rules_in_force(dt.date(2026, 7, 1))}
    assert by_code["elderly-alone"].parameters == {"age": 75, "grade": 2, "quiet_days": 90}
    assert rule_data.rules_in_force(dt.date(2025, 12, 31)) == []
    assert AuditEntry.objects.filter(object_type="monitoring.riskrule").count() == 1


def test_versions_never_rewrite_history(rules, screener):
    with pytest.raises(ValidationFailed, match="must start after"):
        rule_data.rule_version_add(
            actor=screener, code="elderly-alone", valid_from=dt.date(2026, 1, 1)
        )


def test_only_civil_affairs_edit_rules(rules, street_screener):
    with pytest.raises(PermissionDenied):
        rule_data.rule_version_add(
            actor=street_screener, code="elderly-alone", valid_from=dt.date(2026, 8, 1)
        )


def test_a_new_rule_needs_its_kind_name_and_template(rules, screener):
    with pytest.raises(ValidationFailed, match="rule kinds"):
        rule_data.rule_version_add(actor=screener, code="new-rule", valid_from=dt.date(2026, 8, 1))
    rule = rule_data.rule_version_add(
        actor=screener,
        code="big-hospital-bill",
        kind=RuleKind.EXTERNAL_SIGNAL,
        name="Very large hospital bill",
        severity=4,
        template="{kind}: {max_amount} yuan on {last_on}.",
        translations={"zh-hans": "{last_on}{kind}{max_amount}元"},
        parameters={"kinds": ["hospital_bill"], "min_amount": "100000"},
        valid_from=dt.date(2026, 8, 1),
    )
    assert rule.parameters == {
        "kinds": ["hospital_bill"],
        "days": 90,
        "min_amount": "100000",
        "quiet_days": 90,
    }


@pytest.mark.parametrize(
    ("parameters", "field"),
    [
        ({"multiple": "lots"}, "multiple"),
        ({"multiple": "-1"}, "multiple"),
        ({"multiple": "1.23456"}, "multiple"),
        ({"multiple": "NaN"}, "multiple"),
        ({"colour": "red"}, "parameters"),
    ],
)
def test_bad_parameters_name_the_field(rules, screener, parameters, field):
    with pytest.raises(ValidationFailed) as error:
        rule_data.rule_version_add(
            actor=screener,
            code="marginal-income",
            valid_from=dt.date(2026, 8, 1),
            parameters=parameters,
        )
    assert field in error.value.details


@pytest.mark.parametrize(
    "template", ["{nonsense} yuan", "unbalanced {per_capita", "", "x" * 301, "{0}"]
)
def test_bad_templates_are_refused(rules, screener, template):
    with pytest.raises(ValidationFailed):
        rule_data.rule_version_add(
            actor=screener,
            code="marginal-income",
            valid_from=dt.date(2026, 8, 1),
            template=template,
        )


def test_bad_kinds_and_counts(rules, screener):
    for parameters in ({"kinds": ["weather"]}, {"kinds": []}, {"count": 0}, {"days": "1.5"}):
        with pytest.raises(ValidationFailed):
            rule_data.rule_version_add(
                actor=screener,
                code="repeated-hardship-cases",
                valid_from=dt.date(2026, 8, 1),
                parameters=parameters,
            )
    assert RiskRule.objects.filter(code="repeated-hardship-cases").count() == 1


def test_explanations_render_in_either_language(rules):
    rule = RiskRule.objects.get(code="hospital-bill")
    figures = {
        "count": 2,
        "days": 90,
        "kind": "hospital_bill",
        "max_amount": "1234567.5",
        "total_amount": "1234600.00",
        "last_on": "2026-06-01",
    }
    assert rule_data.explain(rule, figures, "en") == (
        "Hospital bill: 2 in the last 90 days, the largest 1,234,567.50 yuan, the latest on "
        "2026-06-01."
    )
    assert "1,234,567.50元" in rule_data.explain(rule, figures, "zh-hans")
    assert rule_data.fill("{missing} and {count}", {"count": 1}) == "{missing} and 1"


@given(st.dictionaries(st.text(max_size=8), st.one_of(st.integers(), st.text(max_size=8))))
def test_validation_never_crashes(raw):
    for kind in RuleKind.values:
        with contextlib.suppress(ValidationFailed):
            rule_data.validate_parameters(kind, raw)
