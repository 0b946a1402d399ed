from django.contrib.auth import views as auth_views
from django.urls import path

from . import views
from .logins import LoginForm

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="core/login.html",
            redirect_authenticated_user=True,
            authentication_form=LoginForm,
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("elder-mode/", views.elder_mode, name="elder_mode"),
    path("audit/", views.audit, name="audit"),
]
