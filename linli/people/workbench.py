"""The registry's part of the workbench (工作台): households and residents of each place."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _

from linli.core.models import User
from linli.core.roles import Perm
from linli.core.workbench import Figure, Provider, register

from . import selectors


class PeopleProvider(Provider):
    name = "people"

    def figures(self, actor: User, place_id: int, place_path: str) -> list[Figure]:
        if not actor.has_perm_code(Perm.PEOPLE_VIEW):
            return []
        counts = selectors.area_figures(actor=actor, place_path=place_path)
        # The lists take a place in the URL; a tag is part of the POSTed search only.
        query = f"?place_id={place_id}"
        return [
            Figure(_("households"), counts["households"], reverse("people:households") + query),
            Figure(_("residents"), counts["residents"], reverse("people:persons") + query),
            Figure(_("aged 60+"), counts["elderly"]),
            Figure(_("living alone"), counts["living_alone"]),
            Figure(_("disabled"), counts["disabled"]),
        ]


register(PeopleProvider())
