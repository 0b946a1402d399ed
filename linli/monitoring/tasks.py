"""The monitoring app's background tasks and periodic jobs, one module per area (imported here
so that the worker and the periodic-job registry find them)."""

from .keys_tasks import *  # noqa: F403
from .screening_tasks import *  # noqa: F403
from .signals_tasks import *  # noqa: F403
from .visits_tasks import *  # noqa: F403
