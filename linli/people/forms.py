"""Page forms for the registry. The services hold the rules; these give inline messages early."""

from __future__ import annotations

import re

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from linli.places.models import PlaceLevel
from linli.places.selectors import places_for_choice

from .idnumbers import normalise_id_digits
from .models import (
    KINDS_BY_CATEGORY,
    DisabilityCategory,
    FinanceCategory,
    FinanceKind,
    RecordStatus,
    Registration,
    Relation,
    SupporterRelation,
    Tag,
    WorkCapacity,
)
from .selectors import HouseholdFilter, PersonFilter

ID_ENDING_RE = re.compile(r"^[0-9]{0,17}[0-9X]?$")
DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class PlaceChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, place) -> str:
        return f"{'· ' * max(0, place.level - 2)}{place.name} ({place.code})"


def _place_field(actor, *, levels: tuple[int, ...], label, required: bool) -> PlaceChoiceField:
    """A place select limited to the actor's jurisdiction, like every choice list."""
    queryset = places_for_choice(actor).filter(level__in=levels)
    return PlaceChoiceField(queryset=queryset, label=label, required=required)


class PersonSearchForm(forms.Form):
    name = forms.CharField(label=_("Name starts with"), required=False, max_length=50)
    id_ending = forms.CharField(label=_("ID number ends with"), required=False, max_length=18)
    address = forms.CharField(label=_("Address contains"), required=False, max_length=100)
    tag = forms.ChoiceField(label=_("Tag"), required=False, choices=[("", "—"), *Tag.choices])
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("Any")), *RecordStatus.choices],
        initial=RecordStatus.ACTIVE,
    )

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["place"] = _place_field(
            actor,
            levels=(PlaceLevel.DISTRICT, PlaceLevel.STREET, PlaceLevel.COMMUNITY, PlaceLevel.GRID),
            label=_("Place"),
            required=False,
        )

    def clean_id_ending(self) -> str:
        # Typed with a Chinese input method the digits are often full-width: read them as the
        # API does (idnumbers.normalise_id_digits).
        digits = normalise_id_digits(self.cleaned_data["id_ending"])
        if not ID_ENDING_RE.match(digits):
            raise forms.ValidationError(_("Digits only (the last may be X)."), code="invalid")
        return digits

    def to_filter(self) -> PersonFilter:
        data = self.cleaned_data
        place = data.get("place")
        return PersonFilter(
            place_id=place.pk if place else None,
            name=data["name"],
            id_ending=data["id_ending"],
            address=data["address"],
            tag=data["tag"],
            status=data["status"],
        )


class HouseholdSearchForm(forms.Form):
    number = forms.CharField(label=_("Household number starts with"), required=False, max_length=32)
    address = forms.CharField(label=_("Address contains"), required=False, max_length=100)
    registration = forms.ChoiceField(
        label=_("Registration"), required=False, choices=[("", "—"), *Registration.choices]
    )
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("Any")), *RecordStatus.choices],
        initial=RecordStatus.ACTIVE,
    )

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["place"] = _place_field(
            actor,
            levels=(PlaceLevel.DISTRICT, PlaceLevel.STREET, PlaceLevel.COMMUNITY, PlaceLevel.GRID),
            label=_("Place"),
            required=False,
        )

    def to_filter(self) -> HouseholdFilter:
        data = self.cleaned_data
        place = data.get("place")
        return HouseholdFilter(
            place_id=place.pk if place else None,
            number=data["number"],
            address=data["address"],
            registration=data["registration"],
            status=data["status"],
        )


class HouseholdForm(forms.Form):
    number = forms.CharField(label=_("household number"), max_length=32)
    address = forms.CharField(label=_("address"), max_length=200)
    registration = forms.ChoiceField(label=_("registration"), choices=Registration.choices)

    def __init__(self, *args, actor, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["building"] = _place_field(
            actor, levels=(PlaceLevel.BUILDING,), label=_("building"), required=True
        )
        if editing:
            # The number identifies the household in other offices' records; it is not edited.
            del self.fields["number"]


class PersonForm(forms.Form):
    relation = forms.ChoiceField(label=_("relation to householder"), choices=Relation.choices)
    name = forms.CharField(label=pgettext_lazy("person", "name"), max_length=50)
    id_number = forms.CharField(
        label=_("ID number"),
        max_length=18,
        min_length=18,
        help_text=_("18 characters; birth date and sex are read from it."),
    )
    phone = forms.CharField(label=_("phone"), max_length=20, required=False)
    living_alone = forms.BooleanField(label=_("living alone"), required=False)
    disability_category = forms.ChoiceField(
        label=_("disability category"),
        required=False,
        choices=[("", "—"), *DisabilityCategory.choices],
    )
    disability_grade = forms.TypedChoiceField(
        label=_("disability grade"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", "—"), *[(i, str(i)) for i in range(1, 5)]],
    )
    party_member = forms.BooleanField(label=_("party member"), required=False)
    veteran = forms.BooleanField(label=_("veteran"), required=False)
    left_behind_child = forms.BooleanField(label=_("left-behind child"), required=False)
    chronic_illness = forms.BooleanField(label=_("chronic illness"), required=False)

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["id_number"].widget.attrs.update(
            {"autocomplete": "off", "spellcheck": "false", "inputmode": "text"}
        )
        self.fields["phone"].widget.attrs.update({"type": "tel", "autocomplete": "off"})
        if editing:
            self.fields["id_number"].required = False
            self.fields["id_number"].min_length = None
            self.fields["id_number"].help_text = _(
                "Leave empty to keep the registered number; fill in only to correct it."
            )
            # Full numbers are never pre-filled: showing them is a logged act of its own.
            self.fields["phone"].help_text = _("Leave empty to keep the registered phone.")
            self.fields["clear_phone"] = forms.BooleanField(
                label=_("Remove the registered phone"), required=False
            )


class StatusForm(forms.Form):
    status = forms.ChoiceField(label=_("status"), choices=RecordStatus.choices)


def _kinds_by_category() -> list:
    """The kind list grouped under its categories, so income kinds are found together."""
    labels = dict(FinanceKind.choices)
    return [
        (FinanceCategory(category).label, [(kind, labels[kind]) for kind in kinds])
        for category, kinds in KINDS_BY_CATEGORY.items()
    ]


class FinancialRecordForm(forms.Form):
    category = forms.ChoiceField(label=_("category"), choices=FinanceCategory.choices)
    kind = forms.ChoiceField(label=_("kind"), choices=_kinds_by_category)
    amount = forms.DecimalField(
        label=_("amount (yuan)"), max_digits=14, decimal_places=2, min_value=0
    )
    valid_from = forms.DateField(label=_("from"), widget=DATE)
    valid_to = forms.DateField(label=_("to"), required=False, widget=DATE)
    new_employment = forms.BooleanField(
        label=_("new employment"),
        required=False,
        help_text=_("Wages from a job taken up while on assistance: exempt for some months."),
    )
    note = forms.CharField(label=_("note"), required=False, max_length=200)


# --- facts assistance decisions cite. Each form has its own prefix: several share the person
# page, and their fields' ids must not clash.


class WorkCapacityForm(forms.Form):
    prefix = "capacity"
    work_capacity = forms.ChoiceField(
        label=_("capacity to work"),
        required=False,
        choices=[("", _("Not assessed")), *WorkCapacity.choices],
    )


class DeathForm(forms.Form):
    prefix = "death"
    died_on = forms.DateField(label=_("date of death"), widget=DATE)


class IllnessForm(forms.Form):
    prefix = "illness"
    illness = forms.CharField(label=_("illness"), max_length=100)
    diagnosed_on = forms.DateField(label=_("diagnosed on"), widget=DATE)
    ended_on = forms.DateField(label=_("cured or ended on"), required=False, widget=DATE)
    hospital = forms.CharField(label=_("hospital"), required=False, max_length=100)


class SelfCareForm(forms.Form):
    """Tick what the person manages unaided; the level follows from the items not ticked."""

    prefix = "selfcare"
    assessed_on = forms.DateField(label=_("assessed on"), widget=DATE)
    assessor = forms.CharField(
        label=_("assessor"),
        max_length=100,
        help_text=_("Tick below each activity the person manages unaided."),
    )
    eating = forms.BooleanField(label=_("eats unaided"), required=False)
    dressing = forms.BooleanField(label=_("dresses unaided"), required=False)
    bed_transfer = forms.BooleanField(label=_("gets in and out of bed unaided"), required=False)
    toileting = forms.BooleanField(label=_("uses the toilet unaided"), required=False)
    indoor_walking = forms.BooleanField(label=_("walks indoors unaided"), required=False)
    bathing = forms.BooleanField(label=_("bathes unaided"), required=False)


class SupporterForm(forms.Form):
    prefix = "supporter"
    relation = forms.ChoiceField(
        label=_("relation to the person"), choices=SupporterRelation.choices
    )
    supporter_id_number = forms.CharField(
        label=_("Supporter's ID number"),
        required=False,
        max_length=32,
        help_text=_(
            "For a registered supporter, in any household or jurisdiction: only their masked "
            "name is shown."
        ),
    )
    supporter_name = forms.CharField(
        label=_("supporter's name"),
        required=False,
        max_length=50,
        help_text=_("For a supporter outside the registry (living in another city, say)."),
    )
    able_to_support = forms.TypedChoiceField(
        label=_("able to support"),
        choices=[("1", _("Yes")), ("0", _("No"))],
        coerce=lambda value: value == "1",
        widget=forms.RadioSelect,
    )
    assessment = forms.CharField(
        label=_("assessment"),
        required=False,
        max_length=200,
        help_text=_("Why not able: no income, disabled, on assistance themselves…"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["supporter_id_number"].widget.attrs.update(
            {"autocomplete": "off", "spellcheck": "false"}
        )


class BankAccountForm(forms.Form):
    prefix = "bank"
    bank = forms.CharField(label=_("bank"), max_length=60)
    account_number = forms.CharField(
        label=_("account number"),
        max_length=64,
        help_text=_("6 to 32 digits; spaces between groups are dropped."),
    )
    holder_name = forms.CharField(label=_("account holder"), max_length=50)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account_number"].widget.attrs.update(
            {"autocomplete": "off", "inputmode": "numeric", "spellcheck": "false"}
        )


class DeclineForm(forms.Form):
    reason = forms.CharField(label=_("Why is the request declined?"), max_length=200)


class VoidForm(forms.Form):
    reason = forms.CharField(label=_("Why is this record wrong?"), max_length=200)
