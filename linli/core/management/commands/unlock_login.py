from django.core.management.base import BaseCommand, CommandError

from linli.core.context import acting_from
from linli.core.errors import ApplicationError
from linli.core.logins import login_unlock


class Command(BaseCommand):
    help = (
        "Unlock logins refused after too many wrong passwords: an account (from any address), "
        "a network address (for any account), or both together. Writes an audit entry."
    )

    def add_arguments(self, parser):
        parser.add_argument("--user", default="", help="user name of the locked account")
        parser.add_argument("--address", default="", help="locked network (IP) address")

    def handle(self, *args, user, address, **options):
        try:
            with acting_from("cli"):
                count = login_unlock(actor=None, username=user, address=address)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"{count} failed-login record(s) cleared.")
