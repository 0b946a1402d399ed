"""Account-level writes: API tokens."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from . import audit
from .errors import NotFound, PermissionDenied, ValidationFailed
from .models import ApiToken, AuditAction, User


@transaction.atomic
def api_token_issue(*, actor: User | None, user: User, name: str) -> tuple[ApiToken, str]:
    """Issue a token; the key is returned once and only its hash is kept.

    `actor` None means the operating-system user running `linli api_token` on the server.
    """
    if actor is not None and actor != user and not actor.sees_everything:
        raise PermissionDenied(_("Only an administrator can issue tokens for other accounts."))
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(
            _("Give the token a name that says which client uses it."),
            details={"name": [_("Required.")]},
        )
    key = ApiToken.new_key()
    token = ApiToken.objects.create(
        user=user, name=name[:100], prefix=key[3:11], key_hash=ApiToken.hash_key(key)
    )
    audit.record(
        actor=actor,
        action=AuditAction.CREATE,
        instance=token,
        changes={"user": [None, user.username], "name": [None, token.name]},
    )
    return token, key


@transaction.atomic
def api_token_revoke(*, actor: User, token_id: int) -> ApiToken:
    tokens = ApiToken.objects.select_for_update()
    if not actor.sees_everything:
        tokens = tokens.filter(user=actor)
    token = tokens.filter(pk=token_id).first()
    if token is None:
        raise NotFound()
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit.record(
            actor=actor,
            action=AuditAction.UPDATE,
            instance=token,
            changes={"revoked_at": [None, token.revoked_at.isoformat()]},
        )
    return token
