from django.core.management.base import BaseCommand, CommandError

from linli.cases.open311 import open311_client_issue
from linli.core.context import acting_from
from linli.core.errors import ApplicationError


class Command(BaseCommand):
    help = "Issue an Open311 api_key for a third-party client and print it (shown only once)."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="which client will use the key")

    def handle(self, *args, name, **options):
        try:
            with acting_from("cli"):
                account, key = open311_client_issue(actor=None, name=name)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        self.stderr.write(f"account {account.username}")
        self.stdout.write(key)
