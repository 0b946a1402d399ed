"""One error shape for services, the JSON API and htmx pages."""

from __future__ import annotations

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _


class ApplicationError(Exception):
    """A refusal a user can act on: a message, and per-field details."""

    status = 400
    code = "invalid"

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, list[str]] | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(str(message))
        self.message = str(message)
        self.details = {k: [str(m) for m in v] for k, v in (details or {}).items()}
        if code:
            self.code = code

    def as_dict(self) -> dict:
        return {
            "detail": self.message,
            "code": self.code,
            "errors": [
                {"field": field, "message": msg}
                for field, msgs in self.details.items()
                for msg in msgs
            ],
        }


class ValidationFailed(ApplicationError):
    status = 422
    code = "validation_error"


class NotFound(ApplicationError):
    """Missing, or outside the actor's jurisdiction: the two are indistinguishable on purpose."""

    status = 404
    code = "not_found"

    def __init__(self, message: str | None = None, **kwargs) -> None:
        super().__init__(message or _("Not found."), **kwargs)


class PermissionDenied(ApplicationError):
    status = 403
    code = "permission_denied"

    def __init__(self, message: str | None = None, **kwargs) -> None:
        super().__init__(message or _("Your role may not do this."), **kwargs)


class Conflict(ApplicationError):
    status = 409
    code = "conflict"


class ServiceUnavailable(ApplicationError):
    """The database is locked or unreachable: nothing the user did wrong; try again soon."""

    status = 503
    code = "unavailable"
    retry_after = 30  # seconds, sent as Retry-After

    def __init__(self, message: str | None = None, **kwargs) -> None:
        super().__init__(
            message
            or _(
                "The service is briefly unavailable: its database is busy or cannot be "
                "reached. Please try again in a minute."
            ),
            **kwargs,
        )


def validation_failed_from(exc: DjangoValidationError) -> ValidationFailed:
    """Turn a model's full_clean() error into the application shape."""
    if hasattr(exc, "error_dict"):
        details = {
            ("__all__" if field == NON_FIELD_ERRORS else field): [str(m) for m in errs]
            for field, errs in exc.message_dict.items()
        }
    else:
        details = {"__all__": [str(m) for m in exc.messages]}
    first = next(iter(details.values()))[0]
    return ValidationFailed(first, details=details)


def validation_failed_from_form(form, message: str | None = None) -> ValidationFailed:
    """A bound, invalid Django form's errors in the application shape."""
    details = {
        ("__all__" if field == NON_FIELD_ERRORS else field): [str(m) for m in errs]
        for field, errs in form.errors.items()
    }
    return ValidationFailed(message or next(iter(details.values()))[0], details=details)
