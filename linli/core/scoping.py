"""Jurisdiction scoping (辖区), enforced in one place: the queryset.

Every scoped row stores the materialised path of its place ("320500/320505/.../"). "Everything
under this node" is a prefix match on that path: a LIKE 'p%' served by a varchar_pattern_ops
index on PostgreSQL, and a range p <= path < p + '~' served by an ordinary index on SQLite
(whose LIKE ignores indexes). Paths hold only digits and '/', which sort below '~'.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models
from django.db.models import CharField, Lookup, Q

from .errors import NotFound

if TYPE_CHECKING:
    from .models import User

PATH_SEPARATOR = "/"
PATH_CEILING = "~"


@CharField.register_lookup
class Under(Lookup):
    """`place_path__under="320500/320505/"` — the node and its whole subtree."""

    lookup_name = "under"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs_value = self.rhs
        return f"({lhs} >= %s AND {lhs} < %s)", [
            *lhs_params,
            rhs_value,
            *lhs_params,
            rhs_value + PATH_CEILING,
        ]

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        escaped = self.rhs.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return f"{lhs} LIKE %s", [*lhs_params, escaped + "%"]


def under_any(paths: list[str], field: str = "place_path") -> Q:
    """Q matching rows under any of the given paths (an actor bound to several places)."""
    q = Q(pk__in=[])
    for path in paths:
        q |= Q(**{f"{field}__under": path})
    return q


class ScopedQuerySet(models.QuerySet):
    """NetBox-style `.restrict(actor, action)`; the default manager of every scoped model.

    Subclasses set `permission_prefix` ("people") and `scope_field`; residents see only what
    `for_resident()` returns (by default nothing), each row once however it was joined.
    """

    permission_prefix: str = ""
    scope_field: str = "place_path"

    def restrict(self, actor: User | None, action: str = "view") -> ScopedQuerySet:
        if actor is None or not actor.is_authenticated or not actor.is_active:
            return self.none()
        if actor.is_resident:
            if action != "view":
                return self.none()
            # for_resident() may join to many rows (every member of the resident's household):
            # as an id subquery each row comes back once, so get_for() finds one, not several.
            return self.filter(pk__in=self.for_resident(actor).values("pk"))
        if not actor.has_perm_code(f"{self.permission_prefix}.{action}"):
            return self.none()
        if actor.sees_everything:
            return self
        return self.filter(under_any(actor.scope_paths, self.scope_field))

    def for_resident(self, actor: User) -> ScopedQuerySet:
        return self.none()

    def get_for(self, actor: User | None, pk, action: str = "view"):
        """Fetch by id within the actor's reach; outside it is the same 404 as missing."""
        try:
            return self.restrict(actor, action).get(pk=pk)
        except (self.model.DoesNotExist, ValueError, TypeError):
            raise NotFound() from None
