from django.core.management.base import BaseCommand, CommandError

from linli.core.context import acting_from
from linli.core.errors import ApplicationError
from linli.core.models import User
from linli.core.services import api_token_issue


class Command(BaseCommand):
    help = "Issue an API token for an account and print the key (shown only once)."

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="username of the account")
        parser.add_argument("--name", required=True, help="which client will use the token")

    def handle(self, *args, user, name, **options):
        try:
            account = User.objects.get(username=user)
        except User.DoesNotExist:
            raise CommandError(f"No account with username {user!r}.") from None
        try:
            with acting_from("cli"):
                _, key = api_token_issue(actor=None, user=account, name=name)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(key)
