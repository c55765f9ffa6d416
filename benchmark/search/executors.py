"""Where the seeds of a search run: Ray tasks, or inline in this process (tests, debugging)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from benchmark.sweep.ray_session import connect_ray

__all__ = ["InlineExecutor", "RayExecutor"]


class InlineExecutor:
    """Runs jobs one at a time in this process when waited for (tests, debugging)."""

    def __init__(self, fn: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        self.fn = fn
        self.queue: dict[int, dict[str, Any]] = {}
        self._next = 0

    def slots(self) -> int:
        return 1

    def submit(self, job: dict[str, Any], resources: Mapping[str, float]) -> int:
        self._next += 1
        self.queue[self._next] = job
        return self._next

    def wait(
        self, handles: Sequence[Any]
    ) -> list[tuple[Any, dict[str, Any] | None, BaseException | None]]:
        handle = next(h for h in self.queue if h in set(handles))
        job = self.queue.pop(handle)
        try:
            return [(handle, self.fn(job), None)]
        except Exception as exc:
            return [(handle, None, exc)]

    def cancel(self, handle: Any) -> bool:
        """A queued job is dropped at once (True: no result will come)."""
        return self.queue.pop(handle, None) is not None

    def gpus(self) -> float:
        return 0.0

    def close(self) -> None:
        pass


class RayExecutor:
    """Ray tasks on a local Ray (started here) or an existing cluster (``address``)."""

    def __init__(
        self,
        fn: Callable[[dict[str, Any]], dict[str, Any]],
        address: str | None,
        cpus_per_job: float,
        max_failures: int,
    ) -> None:
        import ray

        self.ray = ray
        self.own = connect_ray(address)
        self.cpus_per_job = cpus_per_job
        self.max_failures = max_failures
        self.remote = ray.remote(fn)

    def slots(self) -> int:
        return max(
            1, int(self.ray.cluster_resources().get("CPU", 1) // max(self.cpus_per_job, 1e-9))
        )

    def gpus(self) -> float:
        return float(self.ray.cluster_resources().get("GPU", 0))

    def submit(self, job: dict[str, Any], resources: Mapping[str, float]) -> Any:
        options = dict(
            num_cpus=resources.get("cpu", self.cpus_per_job),
            num_gpus=resources.get("gpu", 0),
            max_retries=self.max_failures,
        )
        return self.remote.options(**options).remote(job)

    def wait(
        self, handles: Sequence[Any]
    ) -> list[tuple[Any, dict[str, Any] | None, BaseException | None]]:
        ready, _ = self.ray.wait(list(handles), num_returns=1)
        out = []
        for ref in ready:
            try:
                out.append((ref, self.ray.get(ref), None))
            except Exception as exc:  # worker crash after retries, cancellation
                out.append((ref, None, exc))
        return out

    def cancel(self, handle: Any) -> bool:
        """Asks Ray to cancel (a running task gets KeyboardInterrupt); its end still comes
        through ``wait`` (a result when it had already finished)."""
        self.ray.cancel(handle)
        return False

    def close(self) -> None:
        if self.own:
            self.ray.shutdown()
