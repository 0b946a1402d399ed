"""Risk rules (预警规则) as data: the default rules, their parameters, the explanation templates,
and the service that adds a new version of a rule from a date.

A rule row names an evaluator (`RuleKind`, implemented set-based in screening.py) and gives it
parameters, a severity, the assistance program whose recipients it does not flag, and an
explanation template. Templates are `str.format` strings whose placeholders name the figures
of the alert's snapshot ("per-capita income {per_capita} yuan …"). `template` is the English
one; `translations` holds the others by language code ({"zh-hans": "人均收入{per_capita}元…"}).
An alert stores its explanation in the site language (settings.LANGUAGE_CODE) when it is
raised; `explain()` renders the same snapshot in any other language on demand.

Money figures are stored in snapshots as plain decimal strings ("1140.00") and shown with
thousands separators to the fen ("1,140.00"); code figures (a signal kind, an event) are shown
by their translated label.

Versions: a rule code has one row per start date; the version in force on a date is the one
whose [valid_from, valid_to] holds it. Adding a version from a date closes the previous open
one the day before.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from linli.core import audit
from linli.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from linli.core.models import AuditAction, User
from linli.core.roles import Perm

from .models import RiskRule, RuleKind, Severity, SignalKind

DEFAULT_START = dt.date(2026, 1, 1)
MAX_TEMPLATE = 300

# Figures shown as money (yuan to the fen, thousands separated) when a template is filled.
MONEY_FIGURES = frozenset(
    {
        "per_capita",
        "bound",
        "standard",
        "income",
        "monthly_income",
        "spending",
        "wage",
        "amount",
        "max_amount",
        "total_amount",
        "min_amount",
    }
)

EARNER_EVENTS = {
    "died": gettext_lazy("died"),
    "disabled": gettext_lazy("became severely disabled"),
    "unemployed": gettext_lazy("registered as unemployed"),
}
ELDERLY_SITUATIONS = {
    "alone": gettext_lazy("lives alone"),
    "disabled": gettext_lazy("has a severe disability"),
}


# ---------------------------------------------------------------------------------------------
# Parameters of each evaluator: name → (type, default, help)

_INT = "int"
_DEC = "decimal"
_KINDS = "kinds"

PARAMETERS: dict[str, dict[str, tuple[str, Any, Any]]] = {
    RuleKind.MARGINAL_INCOME: {
        "multiple": (
            _DEC,
            "1.5",
            gettext_lazy("Flag per-capita income below this multiple of the minimum"),
        ),
    },
    RuleKind.EXPENDITURE_SHARE: {
        "share": (_DEC, "0.5", gettext_lazy("Flag spending above this share of the income")),
        "months": (_INT, 12, gettext_lazy("Months looked back")),
    },
    RuleKind.EARNER_LOSS: {
        "months": (_INT, 6, gettext_lazy("Months looked back")),
        "grade": (_INT, 2, gettext_lazy("Disability grades counted as severe (1 to this)")),
    },
    RuleKind.ELDERLY_ALONE: {
        "age": (_INT, 80, gettext_lazy("Age from")),
        "grade": (_INT, 2, gettext_lazy("Disability grades counted as severe (1 to this)")),
    },
    RuleKind.DISABLED_WITHOUT_CARE: {
        "grade": (_INT, 2, gettext_lazy("Disability grades counted as severe (1 to this)")),
        "adult_age": (_INT, 18, gettext_lazy("Carers are members from this age")),
        "elderly_age": (_INT, 80, gettext_lazy("… and under this age")),
    },
    RuleKind.REPEATED_SIGNALS: {
        "kinds": (_KINDS, ["hardship_case"], gettext_lazy("Signal kinds")),
        "count": (_INT, 2, gettext_lazy("At least this many signals")),
        "days": (_INT, 90, gettext_lazy("Within this many days")),
    },
    RuleKind.EXTERNAL_SIGNAL: {
        "kinds": (_KINDS, ["hospital_bill"], gettext_lazy("Signal kinds")),
        "days": (_INT, 90, gettext_lazy("Within this many days")),
        "min_amount": (_DEC, "0", gettext_lazy("Amount over (yuan)")),
    },
}


# Every kind: how long a household whose alert of the rule people closed (visited, referred,
# dismissed) is not flagged again by it while the condition holds; 0 for no quiet period.
DEFAULT_QUIET_DAYS = 90
COMMON_PARAMETERS: dict[str, tuple[str, Any, Any]] = {
    "quiet_days": (
        _INT,
        DEFAULT_QUIET_DAYS,
        gettext_lazy("Days a household is not flagged again after people closed its alert"),
    ),
}
for _spec in PARAMETERS.values():
    _spec.update(COMMON_PARAMETERS)
# Parameters that may be 0.
ZERO_ALLOWED = frozenset({"quiet_days"})


def quiet_days(rule: RiskRule) -> int:
    """The rule's quiet period in days (the default for rules stored without one)."""
    value = (rule.parameters or {}).get("quiet_days", DEFAULT_QUIET_DAYS)
    try:
        days = int(value)
    except (TypeError, ValueError):
        return DEFAULT_QUIET_DAYS
    return min(max(days, 0), 10_000)


def _message(field: str, text: str) -> ValidationFailed:
    return ValidationFailed(text, details={field: [text]})


def validate_parameters(kind: str, raw: Any) -> dict[str, Any]:
    """The evaluator's parameters, defaults filled in and normalised (decimals as strings);
    errors name the parameter and the fix."""
    if kind not in PARAMETERS:
        raise _message("kind", _("Choose one of the rule kinds."))
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise _message("parameters", _("Give the parameters as an object of names and values."))
    spec = PARAMETERS[kind]
    unknown = sorted(set(raw) - set(spec))
    if unknown:
        raise _message(
            "parameters",
            _("There is no parameter called %(names)s for this kind of rule.")
            % {"names": ", ".join(unknown)},
        )
    out: dict[str, Any] = {}
    for name, (typ, default, _help) in spec.items():
        value = raw.get(name, default)
        if typ == _INT:
            try:
                number = int(value)
                if isinstance(value, bool) or str(number) != str(value).strip():
                    raise ValueError
            except (TypeError, ValueError):
                raise _message(name, _("Give a whole number.")) from None
            if name in ZERO_ALLOWED and not 0 <= number <= 10_000:
                raise _message(name, _("Give a whole number between 0 and 10000."))
            if name not in ZERO_ALLOWED and not 0 < number <= 10_000:
                raise _message(name, _("Give a whole number between 1 and 10000."))
            out[name] = number
        elif typ == _DEC:
            try:
                number = Decimal(str(value).strip())
            except (InvalidOperation, ValueError):
                raise _message(name, _("Give a number such as 1.5.")) from None
            if not number.is_finite() or number < 0 or number > Decimal("10000000"):
                raise _message(name, _("Give a number between 0 and 10000000."))
            if number != number.quantize(Decimal("0.0001")):
                raise _message(name, _("Give at most four decimals."))
            out[name] = format(number.normalize(), "f") if number else "0"
        else:
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, list) or not value:
                raise _message(name, _("Choose at least one signal kind."))
            bad = [v for v in value if v not in SignalKind.values]
            if bad:
                raise _message(
                    name,
                    _("There is no signal kind called %(names)s.")
                    % {"names": ", ".join(map(str, bad))},
                )
            out[name] = sorted(set(value))
    return out


# ---------------------------------------------------------------------------------------------
# Templates


def money(value: Any) -> str:
    """Yuan to the fen with thousands separators: 1140 → "1,140.00"."""
    return f"{Decimal(str(value)):,.2f}"


def _shown(name: str, value: Any) -> str:
    if value is None:
        return ""
    if name in MONEY_FIGURES:
        return money(value)
    if name == "event":
        return str(EARNER_EVENTS.get(value, value))
    if name == "situation":
        return str(ELDERLY_SITUATIONS.get(value, value))
    if name == "kind":
        return str(SignalKind(value).label) if value in SignalKind.values else str(value)
    if name == "kinds" and isinstance(value, list):
        return "、".join(
            str(SignalKind(v).label) if v in SignalKind.values else str(v) for v in value
        )
    return str(value)


class _Figures(dict):
    """Formatting map: a missing figure shows as {name} instead of failing."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def template_for(rule: RiskRule, language: str | None = None) -> str:
    language = (language or settings.LANGUAGE_CODE).lower()
    if language.startswith("en"):
        return rule.template
    translations = rule.translations or {}
    for code, text in translations.items():
        if code.lower() == language or language.startswith(code.lower().split("-")[0]):
            return text
    return rule.template


def fill(template: str, snapshot: dict[str, Any], language: str | None = None) -> str:
    """The template with the snapshot's figures in, labels in the given language."""
    with translation.override(language or settings.LANGUAGE_CODE):
        figures = _Figures({k: _shown(k, v) for k, v in snapshot.items()})
        try:
            return template.format_map(figures)[:500]
        except (ValueError, IndexError, AttributeError, KeyError):
            return template[:500]


def explain(rule: RiskRule, snapshot: dict[str, Any], language: str | None = None) -> str:
    """An alert's explanation in a language (the site language by default)."""
    language = language or settings.LANGUAGE_CODE
    return fill(template_for(rule, language), snapshot, language)


def _check_template(field: str, text: Any, kind: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise _message(field, _("Write the explanation template."))
    text = "".join(ch for ch in text if ch == " " or ch.isprintable()).strip()
    if len(text) > MAX_TEMPLATE:
        raise _message(field, _("At most %(max)d characters.") % {"max": MAX_TEMPLATE})
    try:
        names = {name for _lit, name, _spec, _conv in __import__("string").Formatter().parse(text)}
    except ValueError:
        raise _message(
            field, _("Braces must pair up around a figure's name, as in {per_capita}.")
        ) from None
    names.discard(None)
    unknown = sorted(n for n in names if n not in FIGURES[kind])
    if unknown:
        raise _message(
            field,
            _("The template names figures this rule does not compute: %(names)s. Use: %(known)s.")
            % {"names": ", ".join(unknown), "known": ", ".join(FIGURES[kind])},
        )
    return text


# The figures each evaluator puts in the snapshot (the placeholders a template may use).
FIGURES: dict[str, tuple[str, ...]] = {
    RuleKind.MARGINAL_INCOME: (
        "per_capita",
        "bound",
        "standard",
        "multiple",
        "members",
        "monthly_income",
    ),
    RuleKind.EXPENDITURE_SHARE: ("spending", "income", "share", "percent", "months"),
    RuleKind.EARNER_LOSS: ("wage", "event", "event_on", "months"),
    RuleKind.ELDERLY_ALONE: ("age", "situation", "grade"),
    RuleKind.DISABLED_WITHOUT_CARE: ("age", "grade"),
    RuleKind.REPEATED_SIGNALS: ("count", "days", "kinds", "last_on"),
    RuleKind.EXTERNAL_SIGNAL: ("count", "days", "kind", "max_amount", "total_amount", "last_on"),
}


# ---------------------------------------------------------------------------------------------
# The default rules

DEFAULT_RULES: tuple[dict[str, Any], ...] = (
    {
        "code": "marginal-income",
        "name": "Income near or below the minimum",
        "kind": RuleKind.MARGINAL_INCOME,
        "parameters": {"multiple": "1.5", "quiet_days": 90},
        "severity": Severity.HIGH,
        "program": "minimum_living",
        "template": "Per-capita income {per_capita} yuan is below {multiple} × the local "
        "minimum ({bound} yuan).",
        "zh": "人均收入{per_capita}元，低于当地低保标准{multiple}倍（{bound}元）",
    },
    {
        "code": "expenditure-share",
        "name": "Medical or education spending over half the income",
        "kind": RuleKind.EXPENDITURE_SHARE,
        "parameters": {"share": "0.5", "months": 12, "quiet_days": 90},
        "severity": Severity.HIGH,
        "program": "rigid_expenditure",
        "template": "Medical and education spending of {spending} yuan in the last {months} "
        "months is {percent}% of the household's income of {income} yuan.",
        "zh": "近{months}个月医疗、教育支出{spending}元，占家庭同期收入{income}元的{percent}%",
    },
    {
        "code": "earner-loss",
        "name": "Loss of the main earner",
        "kind": RuleKind.EARNER_LOSS,
        "parameters": {"months": 6, "grade": 2, "quiet_days": 90},
        "severity": Severity.HIGH,
        "program": "",
        "template": "The main earner (wage {wage} yuan a month) {event} on {event_on}.",
        "zh": "家庭主要劳动力（月工资{wage}元）于{event_on}{event}",
    },
    {
        "code": "elderly-alone",
        "name": "Person 80+ living alone or severely disabled",
        "kind": RuleKind.ELDERLY_ALONE,
        "parameters": {"age": 80, "grade": 2, "quiet_days": 90},
        "severity": Severity.MEDIUM,
        "program": "",
        "template": "A person aged {age} {situation}.",
        "zh": "{age}岁老人{situation}",
    },
    {
        "code": "disabled-without-care",
        "name": "Severely disabled member without care",
        "kind": RuleKind.DISABLED_WITHOUT_CARE,
        "parameters": {"grade": 2, "adult_age": 18, "elderly_age": 80, "quiet_days": 90},
        "severity": Severity.SEVERE,
        "program": "",
        "template": "A member aged {age} with a grade {grade} disability has no able carer in "
        "the household and no able legal supporter.",
        "zh": "{age}岁{grade}级残疾成员，家中无有照料能力的成年人，亦无有赡养能力的法定赡养人",
    },
    {
        "code": "repeated-hardship-cases",
        "name": "Repeated hardship-related cases",
        "kind": RuleKind.REPEATED_SIGNALS,
        "parameters": {"kinds": ["hardship_case"], "count": 2, "days": 90, "quiet_days": 90},
        "severity": Severity.MEDIUM,
        "program": "",
        "template": "{count} signals ({kinds}) in the last {days} days, the latest on {last_on}.",
        "zh": "近{days}天内{count}次{kinds}，最近一次在{last_on}",
    },
    {
        "code": "repeated-alarms",
        "name": "Repeated elderly-care alarms",
        "kind": RuleKind.REPEATED_SIGNALS,
        "parameters": {"kinds": ["alarm"], "count": 3, "days": 30, "quiet_days": 90},
        "severity": Severity.HIGH,
        "program": "",
        "template": "{count} signals ({kinds}) in the last {days} days, the latest on {last_on}.",
        "zh": "近{days}天内{count}次{kinds}，最近一次在{last_on}",
    },
    {
        "code": "hospital-bill",
        "name": "Large hospital bill",
        "kind": RuleKind.EXTERNAL_SIGNAL,
        "parameters": {
            "kinds": ["hospital_bill"],
            "days": 90,
            "min_amount": "20000",
            "quiet_days": 90,
        },
        "severity": Severity.HIGH,
        "program": "rigid_expenditure",
        "template": "{kind}: {count} in the last {days} days, the largest {max_amount} "
        "yuan, the latest on {last_on}.",
        "zh": "近{days}天{kind}{count}条，最高{max_amount}元，最近一次在{last_on}",
    },
    {
        "code": "utility-arrears",
        "name": "Utility arrears",
        "kind": RuleKind.EXTERNAL_SIGNAL,
        "parameters": {
            "kinds": ["utility_arrears"],
            "days": 90,
            "min_amount": "300",
            "quiet_days": 90,
        },
        "severity": Severity.MEDIUM,
        "program": "",
        "template": "{kind}: {count} in the last {days} days, the largest {max_amount} "
        "yuan, the latest on {last_on}.",
        "zh": "近{days}天{kind}{count}条，最高{max_amount}元，最近一次在{last_on}",
    },
    {
        "code": "school-fee-waiver",
        "name": "School-fee waiver",
        "kind": RuleKind.EXTERNAL_SIGNAL,
        "parameters": {
            "kinds": ["school_fee_waiver"],
            "days": 365,
            "min_amount": "0",
            "quiet_days": 90,
        },
        "severity": Severity.LOW,
        "program": "",
        "template": "{kind}: {count} in the last {days} days, the latest on {last_on}.",
        "zh": "近{days}天{kind}{count}条，最近一次在{last_on}",
    },
    {
        "code": "unemployment",
        "name": "Unemployment registration",
        "kind": RuleKind.EXTERNAL_SIGNAL,
        "parameters": {"kinds": ["unemployment"], "days": 180, "min_amount": "0", "quiet_days": 90},
        "severity": Severity.MEDIUM,
        "program": "",
        "template": "{kind}: {count} in the last {days} days, the latest on {last_on}.",
        "zh": "近{days}天{kind}{count}条，最近一次在{last_on}",
    },
)

# Rule names are data too, but the defaults' names are msgids so they show translated.
DEFAULT_NAMES = {
    "marginal-income": gettext_lazy("Income near or below the minimum"),
    "expenditure-share": gettext_lazy("Medical or education spending over half the income"),
    "earner-loss": gettext_lazy("Loss of the main earner"),
    "elderly-alone": gettext_lazy("Person 80+ living alone or severely disabled"),
    "disabled-without-care": gettext_lazy("Severely disabled member without care"),
    "repeated-hardship-cases": gettext_lazy("Repeated hardship-related cases"),
    "repeated-alarms": gettext_lazy("Repeated elderly-care alarms"),
    "hospital-bill": gettext_lazy("Large hospital bill"),
    "utility-arrears": gettext_lazy("Utility arrears"),
    "school-fee-waiver": gettext_lazy("School-fee waiver"),
    "unemployment": gettext_lazy("Unemployment registration"),
}


def rule_name(rule: RiskRule) -> str:
    default = DEFAULT_NAMES.get(rule.code)
    if default is not None and rule.name == next(
        (d["name"] for d in DEFAULT_RULES if d["code"] == rule.code), None
    ):
        return str(default)
    return rule.name


def ensure_default_rules(valid_from: dt.date = DEFAULT_START) -> int:
    """Create the default rules (in force from 2026-01-01) that do not exist yet; idempotent
    (a code that already has any version is left alone). Returns how many were created."""
    existing = set(RiskRule.objects.values_list("code", flat=True).distinct())
    rows = [
        RiskRule(
            code=d["code"],
            name=d["name"],
            kind=d["kind"],
            parameters=validate_parameters(d["kind"], d["parameters"]),
            severity=d["severity"],
            template=d["template"],
            translations={"zh-hans": d["zh"]},
            program=d["program"],
            valid_from=valid_from,
        )
        for d in DEFAULT_RULES
        if d["code"] not in existing
    ]
    RiskRule.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


# ---------------------------------------------------------------------------------------------
# Reading


def rules_in_force(on: dt.date) -> list[RiskRule]:
    """One version per code: the one whose period holds the date."""
    rows = (
        RiskRule.objects.filter(valid_from__lte=on)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=on))
        .order_by("code", "-valid_from")
    )
    seen: dict[str, RiskRule] = {}
    for rule in rows:
        seen.setdefault(rule.code, rule)
    return list(seen.values())


def risk_rules(actor: User) -> QuerySet[RiskRule]:
    """Every version of every rule; rules are city-wide data any monitoring user may read."""
    if not actor.has_perm_code(Perm.MONITORING_VIEW):
        raise PermissionDenied()
    return RiskRule.objects.order_by("code", "-valid_from")


def risk_rule_get(actor: User, rule_id: int) -> RiskRule:
    if not actor.has_perm_code(Perm.MONITORING_VIEW):
        raise PermissionDenied()
    try:
        return RiskRule.objects.get(pk=rule_id)
    except (RiskRule.DoesNotExist, ValueError, TypeError):
        raise NotFound(_("No such risk rule.")) from None


# ---------------------------------------------------------------------------------------------
# Writing


@transaction.atomic
def rule_version_add(
    *,
    actor: User,
    code: str,
    valid_from: dt.date,
    parameters: dict[str, Any] | None = None,
    severity: int | None = None,
    template: str | None = None,
    translations: dict[str, str] | None = None,
    program: str | None = None,
    name: str | None = None,
    kind: str | None = None,
) -> RiskRule:
    """Add a version of a rule from a date (a new rule when the code is new, then `kind`,
    `name`, `severity` and `template` are required). Unset fields are copied from the version
    in force before the date. The previous open-ended version ends the day before; a version
    cannot start on or before the start of the latest one (history is never rewritten)."""
    if not actor.has_perm_code(Perm.MONITORING_RULES):
        raise PermissionDenied()
    from django.core.validators import validate_slug

    from linli.assistance.models import Program

    code = (code or "").strip()
    try:
        validate_slug(code)
        if len(code) > 40:
            raise ValueError
    except Exception:
        raise _message(
            "code", _("Use at most 40 letters, digits, hyphens or underscores.")
        ) from None
    if not isinstance(valid_from, dt.date):
        raise _message("valid_from", _("Give a date as YYYY-MM-DD."))
    versions = list(RiskRule.objects.select_for_update().filter(code=code).order_by("valid_from"))
    latest = versions[-1] if versions else None
    if latest is not None and valid_from <= latest.valid_from:
        raise _message(
            "valid_from",
            _(
                "The latest version of this rule starts on %(start)s: a new version must start "
                "after it."
            )
            % {"start": latest.valid_from.isoformat()},
        )
    base = latest
    kind = base.kind if base is not None else kind
    if kind not in RuleKind.values:
        raise _message("kind", _("Choose one of the rule kinds."))
    merged = {**(base.parameters if base else {}), **(parameters or {})}
    if base is not None and kind != base.kind:
        raise _message("kind", _("A rule keeps its kind; add a rule with a new code instead."))
    params = validate_parameters(kind, merged)
    if severity is None:
        severity = base.severity if base else None
    try:
        severity = Severity(int(severity))
    except (TypeError, ValueError):
        raise _message("severity", _("Choose a severity.")) from None
    template = _check_template(
        "template", template if template is not None else (base.template if base else None), kind
    )
    texts = translations if translations is not None else (base.translations if base else {})
    if not isinstance(texts, dict):
        raise _message("translations", _("Give the translations by language code."))
    texts = {
        str(lang): _check_template("translations", text, kind)
        for lang, text in texts.items()
        if text not in (None, "")
    }
    program = program if program is not None else (base.program if base else "")
    if program and program not in Program.values:
        raise _message("program", _("Choose an assistance program or none."))
    name = (name if name not in (None, "") else (base.name if base else "")) or ""
    name = "".join(ch for ch in name if ch == " " or ch.isprintable()).strip()
    if not name or len(name) > 100:
        raise _message("name", _("Give the rule a name of at most 100 characters."))
    if latest is not None and (latest.valid_to is None or latest.valid_to >= valid_from):
        latest.valid_to = valid_from - dt.timedelta(days=1)
        latest.save(update_fields=["valid_to"])
    rule = RiskRule(
        code=code,
        name=name,
        kind=kind,
        parameters=params,
        severity=severity,
        template=template,
        translations=texts,
        program=program,
        valid_from=valid_from,
    )
    try:
        with transaction.atomic():
            rule.save()
    except IntegrityError:
        raise Conflict(_("A version of this rule starting on that date already exists.")) from None
    audit.record(
        actor=actor,
        action=AuditAction.CREATE,
        instance=rule,
        label=f"{rule.code} {rule.valid_from.isoformat()}",
        changes={
            "parameters": [latest.parameters if latest else None, params],
            "severity": [latest.severity if latest else None, int(severity)],
            "template": [latest.template if latest else None, template],
            "valid_from": [None, valid_from.isoformat()],
        },
    )
    return rule
