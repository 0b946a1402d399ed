"""The assistance app's background tasks and periodic jobs, one module per area (imported here
so that the worker and the periodic-job registry find them)."""

from .applications_tasks import *  # noqa: F403
from .benefits_tasks import *  # noqa: F403
from .payments_tasks import *  # noqa: F403
from .simulations_tasks import *  # noqa: F403
from .supervision_tasks import *  # noqa: F403
