"""One run of the check, and what is done with runs: the stages in order (run.py), one resource's
check (check.py), publishing the reports (publish.py), accepting a run into the list (accept.py).

The command layer calls these; nothing here prints or picks exit codes.
"""

from ocwwatch.pipeline.accept import Accepted, accept_latest, safe_suggestions
from ocwwatch.pipeline.check import Progress
from ocwwatch.pipeline.options import check_environment, fetch_policy
from ocwwatch.pipeline.publish import publish_run
from ocwwatch.pipeline.retention import Pruning, prune_runs
from ocwwatch.pipeline.run import Outcomes, apart_from_live, check_and_publish, run_check

__all__ = [
    "Accepted",
    "Outcomes",
    "Progress",
    "Pruning",
    "accept_latest",
    "apart_from_live",
    "check_and_publish",
    "check_environment",
    "fetch_policy",
    "prune_runs",
    "publish_run",
    "run_check",
    "safe_suggestions",
]
