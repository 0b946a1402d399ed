from django.contrib import admin

from .models import Place


@admin.register(Place)
class PlaceAdmin(admin.ModelAdmin):
    """Read-only here: the tree is edited through the services (validation and audit)."""

    list_display = ("code", "name", "level", "is_rural", "path")
    list_filter = ("level", "is_rural")
    search_fields = ("=code", "name")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
