from django.core.management.base import BaseCommand, CommandError

from linli.core.context import acting_from
from linli.core.errors import ApplicationError
from linli.demo.accounts import demo_accounts_ensure


class Command(BaseCommand):
    help = (
        "Create or repair one demo login per role (password linli-demo), bound to places of the "
        "city in the database, and print them."
    )

    def handle(self, *args, **options):
        try:
            with acting_from("cli:demo_accounts"):
                accounts = demo_accounts_ensure(actor=None)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        rows = [("role", "username", "password", "bound to")]
        rows += [(a.role, a.username, a.password, a.bound_to) for a in accounts]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        for row in rows:
            self.stdout.write(
                "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
                + "  "
                + row[3]
            )
