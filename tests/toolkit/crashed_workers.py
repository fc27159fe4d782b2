"""A test that outlives its timeout ends its xdist worker, and is never run again.

pytest-timeout's ``signal`` method raises in the main thread; in an async test the alarm can
come while the event loop runs a callback, and asyncio logs the exception and goes on: the
test then hangs its worker for good (a whole run once waited 15 minutes on one). The suite
uses the ``thread`` method (``pyproject.toml``): past its timeout a test's stacks are dumped
and its worker exits. xdist then starts another worker and, under ``--dist loadgroup``, hands
the crashed worker's unfinished units to the others, the crashed test among them: it would
run again, a retry, crash after crash. :class:`NoRerunOnCrash` marks the crashed test done
first, so it is reported failed, once.

As a plugin (``-p tests.toolkit.crashed_workers``) it gives ``--dist loadgroup`` that
scheduling alone (``tests/toolkit/test_crashed_workers.py``); ``tests/conftest.py`` mixes
it into the suite's own scheduler.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

__all__ = ["NoRerunOnCrash"]


class NoRerunOnCrash:
    """For a subclass of xdist's ``LoadScopeScheduling`` (``LoadGroupScheduling``): its
    ``remove_node``, with the crashed test marked done before the rest is handed out."""

    # xdist's, declared for the type checker alone
    assigned_work: dict[Any, dict[str, dict[str, bool]]]
    workqueue: dict[str, dict[str, bool]]
    _reschedule: Callable[[Any], None]

    def remove_node(self, node: Any) -> str | None:
        """Called when a worker finished or crashed; the crashed test's id, or None."""
        workload = self.assigned_work.pop(node)
        pending = [nodeid for unit in workload.values() for nodeid, done in unit.items()
                   if not done]  # fmt: skip
        if not pending:
            return None  # it finished its work
        crashed = pending[0]  # xdist runs a unit's tests in order: the first not done
        for unit in workload.values():
            if crashed in unit:
                unit[crashed] = True
        self.workqueue.update(
            (scope, unit) for scope, unit in workload.items() if not all(unit.values())
        )
        for other in self.assigned_work:
            self._reschedule(other)
        return crashed


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup`` with :class:`NoRerunOnCrash` (as a ``-p`` plugin)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling  # type: ignore[import-untyped]

    class Scheduling(NoRerunOnCrash, LoadGroupScheduling):  # type: ignore[misc]
        pass

    return Scheduling(config, log)
