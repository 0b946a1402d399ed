import time

from django.core.management.base import BaseCommand

from linli.core.context import acting_from
from linli.core.jobs import registered_jobs, run_due_jobs


class Command(BaseCommand):
    help = (
        "Enqueue the periodic system jobs that are due (the overdue sweep, notification "
        "delivery …). Run it every minute from cron, or once with --loop."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--inline", action="store_true", help="run due jobs in this process, not the worker"
        )
        parser.add_argument("--force", action="store_true", help="run every job, due or not")
        parser.add_argument(
            "--loop",
            type=int,
            default=0,
            metavar="SECONDS",
            help="keep running, checking every SECONDS (default: check once and exit)",
        )
        parser.add_argument(
            "--list", action="store_true", dest="list_jobs", help="list the registered jobs"
        )

    def handle(self, *args, inline, force, loop, list_jobs, **options):
        if list_jobs:
            for job in registered_jobs():
                self.stdout.write(f"{job.name}\tevery {job.every}")
            return
        while True:
            with acting_from("cli:run_periodic_jobs"):
                names = run_due_jobs(inline=inline, force=force)
            for name in names:
                self.stdout.write(f"{'ran' if inline else 'enqueued'} {name}")
            if loop <= 0:
                return
            time.sleep(loop)
