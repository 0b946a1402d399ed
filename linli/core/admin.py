from axes.models import AccessAttempt
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.translation import gettext_lazy as _

from .logins import attempts_unlock
from .models import ApiToken, AuditEntry, CalendarDay, Department, User
from .services import api_token_issue, api_token_revoke


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "display_name", "role", "is_active", "last_login")
    list_filter = ("role", "is_active")
    search_fields = ("username", "display_name")
    filter_horizontal = ("places", "departments", "groups", "user_permissions")
    fieldsets = (
        *DjangoUserAdmin.fieldsets,
        (_("Role and jurisdiction"), {"fields": ("role", "display_name", "places", "departments")}),
    )
    autocomplete_fields = ()
    actions = ["issue_api_token"]

    @admin.action(description=_("Issue an API token (the key is shown once)"))
    def issue_api_token(self, request, queryset):
        for user in queryset:
            _token, key = api_token_issue(actor=request.user, user=user, name="admin")
            self.message_user(
                request,
                _("Token for %(user)s: %(key)s") % {"user": user, "key": key},
                messages.WARNING,
            )


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "district")
    search_fields = ("code", "name")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("user", "name", "prefix", "created_at", "last_used_at", "revoked_at")
    exclude = ("key_hash",)
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False  # issued from the user list or `linli api_token`, so the key is shown once

    @admin.action(description=_("Revoke"))
    def revoke(self, request, queryset):
        for token in queryset:
            api_token_revoke(actor=request.user, token_id=token.pk)


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("at", "actor_label", "source", "action", "object_type", "object_label")
    list_filter = ("action", "object_type")
    search_fields = ("actor_label", "object_label", "object_id")
    date_hierarchy = "at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AccessAttempt)
class LoginFailuresAdmin(admin.ModelAdmin):
    """Failed logins still counted (django-axes); "unlock" clears them with an audit entry."""

    list_display = ("attempt_time", "username", "ip_address", "failures_since_start")
    search_fields = ("=username", "=ip_address")
    date_hierarchy = "attempt_time"
    fields = ("username", "ip_address", "user_agent", "attempt_time", "failures_since_start")
    readonly_fields = fields
    actions = ["unlock"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # only through "unlock", which writes the audit entry

    @admin.action(description=_("Unlock: clear these failed logins"), permissions=["view"])
    def unlock(self, request, queryset):
        count = attempts_unlock(actor=request.user, attempts=queryset)
        self.message_user(request, _("%(count)d failed-login records cleared.") % {"count": count})


@admin.register(CalendarDay)
class CalendarDayAdmin(admin.ModelAdmin):
    list_display = ("date", "is_workday", "name", "provisional")
    list_filter = ("is_workday", "provisional")
    date_hierarchy = "date"
