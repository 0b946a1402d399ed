from __future__ import annotations

import datetime as dt
import posixpath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from linli.core.audit import Audited
from linli.core.masking import mask_id_number, mask_name, mask_phone
from linli.core.scoping import PATH_SEPARATOR, ScopedQuerySet, under_any
from linli.core.text import control_character_errors, strip_invisible
from linli.places.models import PlaceLevel

from .idnumbers import (
    InvalidIdNumber,
    normalise_id_digits,
    normalise_phone,
    parse_id_number,
    phone_problem,
)

ELDERLY_AGE = 60
NAME_INVISIBLE = _("Enter the name: spaces or invisible characters alone are not a name.")


def years_ago(years: int, today: dt.date | None = None) -> dt.date:
    today = today or timezone.localdate()
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February
        return today.replace(year=today.year - years, day=28)


def street_path_of(place_path: str) -> str:
    """The path of the street (or township) a place path lies in; empty above street level."""
    parts = place_path.split(PATH_SEPARATOR)[: PlaceLevel.STREET]
    if len(parts) < PlaceLevel.STREET or not all(parts):
        return ""
    return PATH_SEPARATOR.join(parts) + PATH_SEPARATOR


def jurisdiction_path(actor) -> str:
    """Where an actor's own acts (exports, imports) are filed in the audit log: their
    jurisdiction, or the smallest place holding all of it; empty (administrators only) if none.

    Never the place the act was about: that may lie outside the jurisdiction, and its auditors
    would then read what this actor did."""
    common = posixpath.commonpath(actor.scope_paths) if actor.scope_paths else ""
    return common + PATH_SEPARATOR if common else ""


class Registration(models.TextChoices):
    URBAN = "urban", _("Urban")  # 城镇户籍
    RURAL = "rural", _("Rural")  # 农村户籍


class RecordStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    MOVED_OUT = "moved_out", _("Moved out")
    DECEASED = "deceased", _("Deceased")
    ARCHIVED = "archived", _("Archived")


class Relation(models.TextChoices):
    HEAD = "head", _("Householder")  # 户主
    SPOUSE = "spouse", _("Spouse")
    CHILD = "child", _("Child")
    CHILD_IN_LAW = "child_in_law", _("Child-in-law")
    GRANDCHILD = "grandchild", _("Grandchild")
    PARENT = "parent", _("Parent")
    GRANDPARENT = "grandparent", _("Grandparent")
    SIBLING = "sibling", _("Sibling")
    OTHER = "other", _("Other")


class Sex(models.TextChoices):
    MALE = "M", _("Male")
    FEMALE = "F", _("Female")


class DisabilityCategory(models.TextChoices):
    VISUAL = "visual", _("Visual")  # 视力
    HEARING = "hearing", _("Hearing")  # 听力
    SPEECH = "speech", _("Speech")  # 言语
    PHYSICAL = "physical", _("Physical")  # 肢体
    INTELLECTUAL = "intellectual", _("Intellectual")  # 智力
    MENTAL = "mental", _("Mental")  # 精神
    MULTIPLE = "multiple", _("Multiple")  # 多重


class WorkCapacity(models.TextChoices):
    """Capacity to work (劳动能力), as assessed for assistance: working age and health."""

    FULL = "full", _("Able to work")  # 有劳动能力
    PARTIAL = "partial", _("Partly able to work")  # 部分丧失劳动能力
    NONE = "none", _("Unable to work")  # 无劳动能力


class Tag(models.TextChoices):
    """Search tags; each maps to a column or a derived condition (see `PersonQuerySet.tagged`)."""

    ELDERLY = "elderly", _("Elderly (60+)")
    LIVING_ALONE = "living_alone", _("Living alone")  # 独居
    DISABLED = "disabled", _("Disabled")
    PARTY_MEMBER = "party_member", _("Party member")
    VETERAN = "veteran", _("Veteran")
    LEFT_BEHIND_CHILD = "left_behind_child", _("Left-behind child")  # 留守儿童
    CHRONIC_ILLNESS = "chronic_illness", _("Chronic illness")


class HouseholdQuerySet(ScopedQuerySet):
    permission_prefix = "people"

    def for_resident(self, actor):
        return self.filter(members__account=actor)


class Household(Audited):
    """A registered household (户)."""

    number = models.CharField(_("household number"), max_length=32, unique=True)
    address = models.CharField(_("address"), max_length=200)
    building = models.ForeignKey(
        "places.Place",
        on_delete=models.PROTECT,
        related_name="households",
        verbose_name=_("building"),
    )
    registration = models.CharField(
        _("registration"), max_length=8, choices=Registration.choices, default=Registration.URBAN
    )
    status = models.CharField(
        _("status"), max_length=16, choices=RecordStatus.choices, default=RecordStatus.ACTIVE
    )
    place_path = models.CharField(max_length=255, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = HouseholdQuerySet.as_manager()

    audit_fields = ("number", "address", "building", "registration", "status")

    class Meta:
        verbose_name = _("household")
        verbose_name_plural = _("households")
        ordering = ["number"]
        indexes = [
            models.Index(
                fields=["place_path"], name="household_path_idx", opclasses=["varchar_pattern_ops"]
            ),
        ]

    def __str__(self) -> str:
        return self.number

    def clean(self) -> None:
        from linli.places.models import PlaceLevel

        errors = control_character_errors(self, ("number", "address"))
        if self.building_id and self.building.level != PlaceLevel.BUILDING:
            errors["building"] = [_("Choose a building, not a larger place.")]
        if errors:
            raise ValidationError(errors)

    def save(self, *args, **kwargs) -> None:
        self.place_path = self.building.path
        super().save(*args, **kwargs)


class PersonQuerySet(ScopedQuerySet):
    permission_prefix = "people"

    def for_resident(self, actor):
        return self.filter(household__members__account=actor) | self.filter(account=actor)

    def tagged(self, tag: str, today: dt.date | None = None) -> PersonQuerySet:
        conditions = {
            Tag.ELDERLY: Q(birth_date__lte=years_ago(ELDERLY_AGE, today)),
            Tag.LIVING_ALONE: Q(living_alone=True),
            Tag.DISABLED: ~Q(disability_category=""),
            Tag.PARTY_MEMBER: Q(party_member=True),
            Tag.VETERAN: Q(veteran=True),
            Tag.LEFT_BEHIND_CHILD: Q(left_behind_child=True),
            Tag.CHRONIC_ILLNESS: Q(chronic_illness=True),
        }
        return self.filter(conditions[Tag(tag)])

    def id_ending(self, digits: str) -> PersonQuerySet:
        """Last digits of the ID number, served by the index on the reversed number."""
        return self.filter(id_reversed__startswith=normalise_id_digits(digits)[::-1])


class Person(Audited):
    """A person (人) known to the registry, usually a member of a household."""

    household = models.ForeignKey(
        Household,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="members",
        verbose_name=_("household"),
    )
    relation = models.CharField(
        _("relation to householder"), max_length=16, choices=Relation.choices, blank=True
    )
    name = models.CharField(pgettext_lazy("person", "name"), max_length=50)
    id_number = models.CharField(_("ID number"), max_length=18, unique=True)
    # The ID number reversed, so "ends with 1234" is an indexed prefix search.
    id_reversed = models.CharField(max_length=18, editable=False, db_index=True)
    birth_date = models.DateField(_("birth date"), editable=False)
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices, editable=False)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    living_alone = models.BooleanField(_("living alone"), default=False)
    disability_category = models.CharField(
        _("disability category"), max_length=16, choices=DisabilityCategory.choices, blank=True
    )
    disability_grade = models.PositiveSmallIntegerField(
        _("disability grade"), null=True, blank=True, choices=[(i, str(i)) for i in range(1, 5)]
    )
    party_member = models.BooleanField(_("party member"), default=False)
    veteran = models.BooleanField(_("veteran"), default=False)
    left_behind_child = models.BooleanField(_("left-behind child"), default=False)
    chronic_illness = models.BooleanField(_("chronic illness"), default=False)
    work_capacity = models.CharField(
        _("capacity to work"), max_length=8, choices=WorkCapacity.choices, blank=True
    )
    status = models.CharField(
        _("status"), max_length=16, choices=RecordStatus.choices, default=RecordStatus.ACTIVE
    )
    died_on = models.DateField(_("date of death"), null=True, blank=True)
    account = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="person",
        verbose_name=_("resident account"),
    )
    place_path = models.CharField(max_length=255, blank=True, editable=False)
    # The street's path, repeated so "this street, name starts with" is one tight index range
    # instead of a walk over the whole street's slice of the place-path index.
    street_path = models.CharField(max_length=255, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PersonQuerySet.as_manager()

    audit_fields = (
        "household",
        "relation",
        "name",
        "id_number",
        "phone",
        "living_alone",
        "disability_category",
        "disability_grade",
        "party_member",
        "veteran",
        "left_behind_child",
        "chronic_illness",
        "work_capacity",
        "status",
        "died_on",
    )
    audit_masks = {"id_number": mask_id_number, "phone": mask_phone}

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("persons")
        ordering = ["name", "id"]
        indexes = [
            # Covers "under this place, name starts with" lists: an index-only scan finds a
            # page's ids and the count without reading the table (PostgreSQL; SQLite ignores
            # INCLUDE and the opclasses).
            models.Index(
                fields=["place_path", "name"],
                name="person_path_name_idx",
                opclasses=["varchar_pattern_ops", "varchar_pattern_ops"],
                include=["status", "id"],
            ),
            # The same for a street, the commonest search scope: the range is exactly the
            # matches, and the jurisdiction check on place_path is answered from the index too.
            models.Index(
                fields=["street_path", "name"],
                name="person_street_name_idx",
                opclasses=["varchar_pattern_ops", "varchar_pattern_ops"],
                include=["place_path", "status", "id"],
            ),
            models.Index(
                fields=["name"], name="person_name_idx", opclasses=["varchar_pattern_ops"]
            ),
            models.Index(fields=["birth_date"], name="person_birth_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["household"],
                condition=Q(relation="head", status="active"),
                name="one_active_head_per_household",
                violation_error_message=_("This household already has a householder."),
            ),
            models.CheckConstraint(
                condition=(Q(disability_category="") & Q(disability_grade__isnull=True))
                | (
                    ~Q(disability_category="") & Q(disability_grade__gte=1, disability_grade__lte=4)
                ),
                name="disability_category_has_grade",
                violation_error_message=_("A disability needs both a category and a grade (1–4)."),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def audit_label(self) -> str:
        return mask_name(self.name)

    @property
    def id_masked(self) -> str:
        return mask_id_number(self.id_number)

    @property
    def phone_masked(self) -> str:
        return mask_phone(self.phone)

    def age(self, today: dt.date | None = None) -> int:
        today = today or timezone.localdate()
        before_birthday = (today.month, today.day) < (self.birth_date.month, self.birth_date.day)
        return today.year - self.birth_date.year - before_birthday

    @property
    def is_elderly(self) -> bool:
        return self.age() >= ELDERLY_AGE

    @property
    def tags(self) -> list[str]:
        out = [Tag.ELDERLY] if self.birth_date and self.is_elderly else []
        out += [
            tag
            for tag, on in (
                (Tag.LIVING_ALONE, self.living_alone),
                (Tag.DISABLED, bool(self.disability_category)),
                (Tag.PARTY_MEMBER, self.party_member),
                (Tag.VETERAN, self.veteran),
                (Tag.LEFT_BEHIND_CHILD, self.left_behind_child),
                (Tag.CHRONIC_ILLNESS, self.chronic_illness),
            )
            if on
        ]
        return out

    def clean(self) -> None:
        errors = control_character_errors(self, ("name", "id_number", "phone"))
        if "id_number" not in errors:
            try:
                self.id_number, self.birth_date, self.sex = parse_id_number(self.id_number)
                self.id_reversed = self.id_number[::-1]
            except InvalidIdNumber as exc:
                errors["id_number"] = [str(exc)]
        self.name = strip_invisible(self.name or "")
        if not self.name and "name" not in errors:
            errors["name"] = [NAME_INVISIBLE]
        self.phone = normalise_phone(self.phone)
        problem = phone_problem(self.phone)
        if problem and "phone" not in errors:
            errors["phone"] = [problem]
        if self.household_id and not self.relation:
            errors["relation"] = [_("Say how this member relates to the householder.")]
        if self.disability_category and self.disability_grade is None:
            errors["disability_grade"] = [_("A disability needs a grade from 1 to 4.")]
        if self.disability_grade is not None and not self.disability_category:
            errors["disability_category"] = [_("A disability grade needs a category.")]
        if (
            self.left_behind_child
            and self.birth_date
            and "id_number" not in errors
            and self.age() >= 16
        ):
            errors["left_behind_child"] = [_("Only children under 16 are left-behind children.")]
        if errors:
            raise ValidationError(errors)

    def save(self, *args, **kwargs) -> None:
        self.place_path = self.household.place_path if self.household_id else ""
        self.street_path = street_path_of(self.place_path)
        if not self.id_reversed:
            self.id_reversed = self.id_number[::-1]
        super().save(*args, **kwargs)


class FinanceCategory(models.TextChoices):
    INCOME = "income", _("Income")
    ASSET = "asset", _("Asset")
    EXPENDITURE = "expenditure", _("Rigid expenditure")


class FinanceKind(models.TextChoices):
    """Kinds fine enough for a policy to count, exempt or deduct each (see assistance.policy).
    The first five are the statistical groups the registry began with; records of those kinds
    stay as they were."""

    WAGE = "wage", _("Wages")  # 工资性收入
    BUSINESS = "business", _("Business income")  # 经营净收入
    PROPERTY_INCOME = "property_income", _("Property income")  # 财产净收入
    TRANSFER = "transfer", _("Transfers and pensions")  # 转移净收入
    OTHER_INCOME = "other_income", _("Other income")
    RETIREMENT_PENSION = "retirement_pension", _("Retirement pension")  # 退休金
    BASIC_PENSION = "basic_pension", _("Basic pension")  # 城乡居民基础养老金
    FAMILY_SUPPORT = "family_support", _("Support from family")  # 赡养费/抚养费
    ELDERLY_ALLOWANCE = "elderly_allowance", _("Old-age allowance")  # 高龄津贴
    DISABILITY_ALLOWANCE = "disability_allowance", _("Disability allowances")  # 残疾人两项补贴
    ASSISTANCE_RECEIVED = "assistance_received", _("Assistance received")  # 救助金
    SCHOLARSHIP = "scholarship", _("Scholarship or student grant")  # 奖学金、助学金
    MERIT_AWARD = "merit_award", _("Award for merit")  # 见义勇为等奖励
    SOCIAL_INSURANCE = "social_insurance", _("Own social-insurance contributions")  # 个人缴纳社保
    SAVINGS = "savings", _("Savings")  # 存款
    SECURITIES = "securities", _("Securities")
    VEHICLE = "vehicle", _("Vehicle")  # 机动车
    EXTRA_HOUSING = "extra_housing", _("Extra housing")  # 非唯一住房
    MEDICAL = "medical", _("Medical")  # 医疗
    EDUCATION = "education", _("Education")  # 教育


KINDS_BY_CATEGORY: dict[str, tuple[str, ...]] = {
    FinanceCategory.INCOME: (
        "wage",
        "business",
        "property_income",
        "transfer",
        "other_income",
        "retirement_pension",
        "basic_pension",
        "family_support",
        "elderly_allowance",
        "disability_allowance",
        "assistance_received",
        "scholarship",
        "merit_award",
        "social_insurance",
    ),
    FinanceCategory.ASSET: ("savings", "securities", "vehicle", "extra_housing"),
    FinanceCategory.EXPENDITURE: ("medical", "education"),
}


class FinancialRecordQuerySet(ScopedQuerySet):
    permission_prefix = "people"

    def current(self) -> FinancialRecordQuerySet:
        return self.filter(voided_at__isnull=True)

    def for_resident(self, actor):
        return self.filter(household__members__account=actor)


class FinancialRecord(Audited):
    """A dated income, asset or rigid-expenditure fact about one member.

    Income amounts are per month over [valid_from, valid_to]; asset amounts are the value on
    valid_from; expenditure amounts are the total paid over the period. Records are voided,
    never deleted: assistance decisions will cite them.
    """

    person = models.ForeignKey(
        Person, on_delete=models.PROTECT, related_name="finances", verbose_name=_("person")
    )
    household = models.ForeignKey(
        Household,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="finances",
        editable=False,
    )
    category = models.CharField(_("category"), max_length=16, choices=FinanceCategory.choices)
    kind = models.CharField(_("kind"), max_length=20, choices=FinanceKind.choices)
    amount = models.DecimalField(_("amount (yuan)"), max_digits=14, decimal_places=2)
    valid_from = models.DateField(_("from"))
    valid_to = models.DateField(_("to"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    place_path = models.CharField(max_length=255, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    voided_at = models.DateTimeField(_("voided at"), null=True, blank=True, editable=False)
    void_reason = models.CharField(_("void reason"), max_length=200, blank=True, editable=False)
    # A wage from a job taken up while receiving assistance: exempt for the months a policy
    # sets (新增就业收入豁免), counted from valid_from.
    new_employment = models.BooleanField(_("new employment"), default=False)

    objects = FinancialRecordQuerySet.as_manager()

    audit_fields = (
        "person",
        "category",
        "kind",
        "amount",
        "valid_from",
        "valid_to",
        "note",
        "voided_at",
        "void_reason",
        "new_employment",
    )

    class Meta:
        verbose_name = _("income, asset or expenditure record")
        verbose_name_plural = _("income, asset and expenditure records")
        ordering = ["-valid_from", "-id"]
        indexes = [
            models.Index(
                fields=["place_path"], name="finance_path_idx", opclasses=["varchar_pattern_ops"]
            ),
            models.Index(fields=["household", "category"], name="finance_household_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gte=0),
                name="finance_amount_not_negative",
                violation_error_message=_("An amount cannot be negative."),
            ),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gte=models.F("valid_from")),
                name="finance_period_ordered",
                violation_error_message=_("The end date cannot be before the start date."),
            ),
            *[
                models.CheckConstraint(
                    condition=~Q(category=category) | Q(kind__in=kinds),
                    name=f"finance_kind_fits_{category}",
                    violation_error_message=_("This kind does not belong to that category."),
                )
                for category, kinds in KINDS_BY_CATEGORY.items()
            ],
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount}"

    def audit_label(self) -> str:
        return f"{mask_name(self.person.name)} · {self.get_kind_display()}"

    def clean(self) -> None:
        errors = control_character_errors(self, ("note", "void_reason"))
        if errors:
            raise ValidationError(errors)

    def save(self, *args, **kwargs) -> None:
        self.household_id = self.person.household_id
        self.place_path = self.person.place_path
        super().save(*args, **kwargs)


class ImportMode(models.TextChoices):
    ALL_OR_NOTHING = "all_or_nothing", _("Load nothing if any row is bad")
    GOOD_ROWS = "good_rows", _("Load the good rows, report the bad ones")


class ImportStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    VALIDATING = "validating", _("Checking rows")
    LOADING = "loading", _("Loading")
    DONE = "done", _("Done")
    REJECTED = "rejected", _("Rejected: nothing loaded")
    FAILED = "failed", _("Failed: nothing loaded")


class ImportJobQuerySet(ScopedQuerySet):
    permission_prefix = "people"

    def restrict(self, actor, action="view"):
        # An import is its uploader's own work; administrators see all.
        if actor is None or not actor.is_authenticated:
            return self.none()
        if actor.sees_everything:
            return self
        if not actor.has_perm_code("people.import"):
            return self.none()
        return self.filter(created_by=actor)


class ImportJob(models.Model):
    """An Excel import of households and persons (批量导入), run by the worker."""

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    created_at = models.DateTimeField(_("uploaded at"), default=timezone.now)
    file = models.FileField(upload_to="imports/%Y/%m/")
    original_name = models.CharField(_("file name"), max_length=200)
    mode = models.CharField(_("mode"), max_length=16, choices=ImportMode.choices)
    # The uploader's language: the worker writes the row errors in it.
    language = models.CharField(max_length=16, default=settings.LANGUAGE_CODE)
    status = models.CharField(
        _("status"), max_length=16, choices=ImportStatus.choices, default=ImportStatus.QUEUED
    )
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    households_created = models.PositiveIntegerField(default=0)
    persons_created = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    # Each: {"sheet", "row", "column", "message"}; every bad row is kept (10,000 is ~1 MB).
    errors = models.JSONField(default=list, blank=True)
    failure = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Stamped with every progress write; a running job whose stamp is old lost its worker.
    heartbeat_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ImportJobQuerySet.as_manager()

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.original_name

    @property
    def percent(self) -> int:
        if self.status in (ImportStatus.DONE, ImportStatus.REJECTED):
            return 100
        return int(100 * self.processed_rows / self.total_rows) if self.total_rows else 0

    @property
    def finished(self) -> bool:
        return self.status in (ImportStatus.DONE, ImportStatus.REJECTED, ImportStatus.FAILED)


class TransferState(models.TextChoices):
    PENDING = "pending", _("Waiting for an answer")
    ACCEPTED = "accepted", _("Accepted: moved")
    DECLINED = "declined", _("Declined")


class TransferRequestQuerySet(ScopedQuerySet):
    """Decided by the office holding the person (`place_path`); read, for the answer, by the
    office that asked (`requester_path`)."""

    permission_prefix = "people"

    def restrict(self, actor, action="view"):
        holding = super().restrict(actor, action)
        if actor is None or not actor.is_authenticated or not actor.is_active:
            return holding  # nothing
        if action != "view" or actor.is_resident or actor.sees_everything:
            return holding
        if not actor.has_perm_code("people.view"):
            return self.none()
        return self.filter(
            under_any(actor.scope_paths) | under_any(actor.scope_paths, "requester_path")
        )

    def pending(self) -> TransferRequestQuerySet:
        return self.filter(state=TransferState.PENDING)


class TransferRequest(Audited):
    """A transfer request (迁入申请): an office met a person registered elsewhere.

    Filed when an ID number entered for a household belongs to a person outside the office's
    jurisdiction. The holding office sees it and accepts (the person moves into the requesting
    household) or declines with a reason; the asking office never learns where the person was.
    """

    person = models.ForeignKey(
        Person, on_delete=models.PROTECT, related_name="transfer_requests", verbose_name=_("person")
    )
    household = models.ForeignKey(
        Household,
        on_delete=models.PROTECT,
        related_name="transfer_requests",
        verbose_name=_("requesting household"),
    )
    relation = models.CharField(
        _("relation to householder"), max_length=16, choices=Relation.choices, blank=True
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("requested by"),
    )
    created_at = models.DateTimeField(_("requested at"), default=timezone.now, editable=False)
    state = models.CharField(
        _("state"), max_length=16, choices=TransferState.choices, default=TransferState.PENDING
    )
    # Every further attempt to register the same person there counts (and is audited) here.
    hits = models.PositiveIntegerField(_("attempts"), default=1)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("answered by"),
    )
    decided_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    decline_reason = models.CharField(_("reason"), max_length=200, blank=True)
    place_path = models.CharField(max_length=255, blank=True, editable=False)
    requester_path = models.CharField(max_length=255, blank=True, editable=False)

    objects = TransferRequestQuerySet.as_manager()

    audit_fields = ("person", "household", "relation", "state", "hits", "decline_reason")

    class Meta:
        verbose_name = _("transfer request")
        verbose_name_plural = _("transfer requests")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["place_path"], name="transfer_path_idx", opclasses=["varchar_pattern_ops"]
            ),
            models.Index(
                fields=["requester_path"],
                name="transfer_requester_idx",
                opclasses=["varchar_pattern_ops"],
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["person", "household"],
                condition=Q(state="pending"),
                name="one_pending_transfer_per_household",
            ),
        ]

    def __str__(self) -> str:
        return mask_id_number(self.person.id_number)

    def audit_label(self) -> str:
        return f"{mask_name(self.person.name)} → {self.household.number}"

    @property
    def id_masked(self) -> str:
        return mask_id_number(self.person.id_number)

    def clean(self) -> None:
        errors = control_character_errors(self, ("decline_reason",))
        if errors:
            raise ValidationError(errors)


def mask_account_number(value: str | None) -> str:
    """6222 **** **** 1234: bank and last four kept, like an ID number."""
    if not value:
        return ""
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


class PersonFactQuerySet(ScopedQuerySet):
    """Facts about a person, scoped by the person's place."""

    permission_prefix = "people"

    def current(self):
        return self.filter(voided_at__isnull=True)

    def for_resident(self, actor):
        return self.filter(person__household__members__account=actor)


class PersonFact(Audited):
    """Common columns of the dated facts assistance decisions cite; voided, never deleted."""

    person = models.ForeignKey(Person, on_delete=models.PROTECT, verbose_name=_("person"))
    place_path = models.CharField(max_length=255, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("recorded by"),
        editable=False,
    )
    voided_at = models.DateTimeField(_("voided at"), null=True, blank=True, editable=False)
    void_reason = models.CharField(_("void reason"), max_length=200, blank=True, editable=False)

    objects = PersonFactQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs) -> None:
        self.place_path = self.person.place_path
        super().save(*args, **kwargs)


class SeriousIllness(PersonFact):
    """A serious illness (重特大疾病) diagnosed in a person: it allows covering that person alone
    (单人保) and counts for expenditure-type hardship."""

    person = models.ForeignKey(
        Person, on_delete=models.PROTECT, related_name="illnesses", verbose_name=_("person")
    )
    illness = models.CharField(_("illness"), max_length=100)
    diagnosed_on = models.DateField(_("diagnosed on"))
    ended_on = models.DateField(_("cured or ended on"), null=True, blank=True)
    hospital = models.CharField(_("hospital"), max_length=100, blank=True)

    audit_fields = ("person", "illness", "diagnosed_on", "ended_on", "hospital", "voided_at")

    class Meta:
        verbose_name = _("serious illness")
        verbose_name_plural = _("serious illnesses")
        ordering = ["-diagnosed_on", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ended_on__isnull=True) | Q(ended_on__gte=models.F("diagnosed_on")),
                name="illness_period_ordered",
                violation_error_message=_("The end date cannot be before the diagnosis."),
            ),
        ]

    def __str__(self) -> str:
        return self.illness

    def audit_label(self) -> str:
        return f"{mask_name(self.person.name)} · {self.illness}"

    def holds_on(self, day: dt.date) -> bool:
        return self.diagnosed_on <= day and (self.ended_on is None or day <= self.ended_on)


SELF_CARE_ITEMS = ("eating", "dressing", "bed_transfer", "toileting", "indoor_walking", "bathing")


class SelfCareLevel(models.TextChoices):
    """Classification of the six-item assessment (特困人员生活自理能力): items not managed."""

    INDEPENDENT = "independent", _("Fully self-caring")  # 全自理: 0 items
    PARTIAL = "partial", _("Partly unable to care for oneself")  # 部分丧失: 1–3 items
    DEPENDENT = "dependent", _("Wholly unable to care for oneself")  # 完全丧失: 4–6 items


class SelfCareAssessment(PersonFact):
    """The six-item self-care assessment (生活自理能力评估): whether the person manages each of
    eating, dressing, getting in and out of bed, using the toilet, walking indoors and bathing
    unaided, on a date, by an assessor."""

    person = models.ForeignKey(
        Person, on_delete=models.PROTECT, related_name="self_care", verbose_name=_("person")
    )
    assessed_on = models.DateField(_("assessed on"))
    assessor = models.CharField(_("assessor"), max_length=100)
    eating = models.BooleanField(_("eats unaided"))  # 自主吃饭
    dressing = models.BooleanField(_("dresses unaided"))  # 自主穿衣
    bed_transfer = models.BooleanField(_("gets in and out of bed unaided"))  # 自主上下床
    toileting = models.BooleanField(_("uses the toilet unaided"))  # 自主如厕
    indoor_walking = models.BooleanField(_("walks indoors unaided"))  # 室内行走
    bathing = models.BooleanField(_("bathes unaided"))  # 自主洗澡

    audit_fields = ("person", "assessed_on", "assessor", *SELF_CARE_ITEMS, "voided_at")

    class Meta:
        verbose_name = _("self-care assessment")
        verbose_name_plural = _("self-care assessments")
        ordering = ["-assessed_on", "-id"]

    def __str__(self) -> str:
        return f"{self.assessed_on} {self.get_level_display()}"

    def audit_label(self) -> str:
        return f"{mask_name(self.person.name)} · {self.assessed_on}"

    @property
    def items_not_managed(self) -> int:
        return sum(not getattr(self, item) for item in SELF_CARE_ITEMS)

    @property
    def level(self) -> str:
        return level_of_self_care(self.items_not_managed)

    def get_level_display(self) -> str:
        return str(SelfCareLevel(self.level).label)


def level_of_self_care(items_not_managed: int) -> str:
    if items_not_managed == 0:
        return SelfCareLevel.INDEPENDENT
    return SelfCareLevel.PARTIAL if items_not_managed <= 3 else SelfCareLevel.DEPENDENT


class SupporterRelation(models.TextChoices):
    """Who owes a person support by law (法定赡养、抚养、扶养义务人)."""

    SPOUSE = "spouse", _("Spouse")  # 扶养
    CHILD = "child", _("Child")  # 赡养
    PARENT = "parent", _("Parent")  # 抚养
    GRANDCHILD = "grandchild", _("Grandchild")
    GRANDPARENT = "grandparent", _("Grandparent")
    SIBLING = "sibling", _("Sibling")


class LegalSupporter(PersonFact):
    """A legal supporter of a person, who may live in another household or outside the
    registry, and whether they are able to support (有无赡养能力)."""

    person = models.ForeignKey(
        Person, on_delete=models.PROTECT, related_name="supporters", verbose_name=_("person")
    )
    supporter = models.ForeignKey(
        Person,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="supported",
        verbose_name=_("supporter in the registry"),
    )
    # For a supporter outside the registry (living in another city, say).
    supporter_name = models.CharField(_("supporter's name"), max_length=50, blank=True)
    relation = models.CharField(
        _("relation to the person"), max_length=16, choices=SupporterRelation.choices
    )
    able_to_support = models.BooleanField(_("able to support"))
    # Why not able: no income, disabled, on assistance themselves, …
    assessment = models.CharField(_("assessment"), max_length=200, blank=True)
    audit_fields = (
        "person",
        "supporter",
        "supporter_name",
        "relation",
        "able_to_support",
        "assessment",
        "voided_at",
    )

    class Meta:
        verbose_name = _("legal supporter")
        verbose_name_plural = _("legal supporters")
        ordering = ["person", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(supporter__isnull=False) | ~Q(supporter_name=""),
                name="supporter_named",
                violation_error_message=_("Choose the supporter in the registry or give a name."),
            ),
        ]

    def __str__(self) -> str:
        return self.supporter.name if self.supporter_id else self.supporter_name

    def audit_label(self) -> str:
        return f"{mask_name(self.person.name)} ← {mask_name(str(self))}"


class BankAccount(PersonFact):
    """The account assistance is paid into (收款账户); shown masked, its full number logged
    each time it is revealed. One active account per person."""

    person = models.ForeignKey(
        Person, on_delete=models.PROTECT, related_name="bank_accounts", verbose_name=_("person")
    )
    bank = models.CharField(_("bank"), max_length=60)
    account_number = models.CharField(_("account number"), max_length=32)
    holder_name = models.CharField(_("account holder"), max_length=50)

    audit_fields = ("person", "bank", "account_number", "holder_name", "voided_at")
    audit_masks = {"account_number": mask_account_number}

    class Meta:
        verbose_name = _("bank account")
        verbose_name_plural = _("bank accounts")
        ordering = ["person", "-created_at"]
        indexes = [models.Index(fields=["account_number"], name="bank_account_number_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["person"],
                condition=Q(voided_at__isnull=True),
                name="one_active_bank_account_per_person",
                violation_error_message=_("This person already has an account for payments."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.bank} {self.account_masked}"

    def audit_label(self) -> str:
        return f"{mask_name(self.person.name)} · {self.account_masked}"

    @property
    def account_masked(self) -> str:
        return mask_account_number(self.account_number)
