"""Ray backend of ``sammask batch``: each video is one Ray task running :func:`run_task`.

Ray is the engine (scheduling, retries of tasks whose worker died, placement on a cluster); this
module only starts or joins Ray and maps videos to tasks. Inputs and outputs are paths, so on a
cluster of many nodes they must be on storage every node mounts (see docs/service.md).
"""

from __future__ import annotations

import logging
import os

from contextlib import ExitStack

from sammask.batch.process import DescendantReaper
from sammask.batch.task import TaskResult, VideoTask, run_task
from sammask.errors import ConfigError

logger = logging.getLogger(__name__)


def run_on_ray(tasks: list[VideoTask], address: str, num_cpus: int) -> list[TaskResult]:
    """Run ``tasks`` as Ray tasks (one CPU each) and return their results in order.

    Args:
        tasks: the videos.
        address: ``"auto"``: join ``$RAY_ADDRESS`` if set, else start a local Ray with
            ``num_cpus`` CPUs; anything else: the address of a running cluster
            (``ray://host:10001`` or ``host:6379``).
        num_cpus: CPUs of a local Ray started here (ignored when joining a cluster). Every process
            of a local Ray dies with this process, ``kill -9`` included (:class:`DescendantReaper`).

    Returns:
        One :class:`TaskResult` per task, in order; a task whose worker died after Ray's retries
        is a failed result.

    Raises:
        ConfigError: Ray is not installed or cannot be started/reached.
    """
    from sammask.offline import disable_telemetry

    disable_telemetry()  # Ray usage stats (inherited by its workers)
    try:
        import ray
    except ImportError:
        raise ConfigError("--ray needs the 'ray' package: pip install 'sammask[ray]'") from None
    started_here = not ray.is_initialized()
    with ExitStack() as stack:
        if started_here:
            join = os.environ.get("RAY_ADDRESS") if address == "auto" else address
            try:
                if join:
                    ray.init(address=join, log_to_driver=False)
                else:
                    stack.enter_context(DescendantReaper())  # before init: a kill during it is covered too
                    ray.init(num_cpus=max(1, num_cpus), include_dashboard=False, log_to_driver=False)
            except Exception as exc:  # noqa: BLE001 - Ray raises several types; one clear error
                raise ConfigError(f"could not start or join Ray at '{join or 'local'}': {exc}") from None
            stack.callback(ray.shutdown)
        return _run(ray, tasks)


def _run(ray, tasks: list[VideoTask]) -> list[TaskResult]:
    """Submit ``tasks`` to the connected Ray and gather their results in order."""
    remote = ray.remote(num_cpus=1)(run_task)
    refs = [remote.remote(t) for t in tasks]
    results: list[TaskResult] = []
    for task, ref in zip(tasks, refs):
        try:
            results.append(ray.get(ref))
        except Exception as exc:  # noqa: BLE001 - a task whose worker died is that video's failure
            results.append(
                TaskResult(
                    str(task.input), str(task.output), ok=False, user_error=False, error=f"{type(exc).__name__}: Ray task failed ({exc})"
                )
            )
    return results
