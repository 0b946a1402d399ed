from django.contrib import admin

from .models import Category


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    """Limits, priorities and default departments are data that administrators tune."""

    list_display = (
        "code",
        "name",
        "parent",
        "department",
        "priority",
        "register_hours",
        "dispatch_hours",
        "handle_hours",
        "verify_hours",
        "round_the_clock",
        "anonymous_allowed",
        "is_active",
    )
    list_filter = ("kind", "parent", "is_active")
    search_fields = ("code", "name", "name_en")
