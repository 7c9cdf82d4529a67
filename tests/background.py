"""Slow checks that wait on other processes, started at collection so they overlap the rest.

The suite runs on one core; the Binder install (pip in a fresh venv) and the lessons' solution
runs (a kernel each) spend their time in subprocesses, so ``tests/conftest.py`` starts them in
threads as soon as their tests are collected, and each test then waits for its own result.

>>> job = Job.start(sum, [1, 2])
>>> job.result()
3
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class Job:
    """One function call running in a daemon thread; ``result()`` returns or re-raises."""

    def __init__(self, function: Callable[..., Any], args: tuple) -> None:
        self._function, self._args = function, args
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    @classmethod
    def start(cls, function: Callable[..., Any], *args: Any) -> Job:
        job = cls(function, args)
        job._thread.start()
        return job

    def _run(self) -> None:
        try:
            self._value = self._function(*self._args)
        except BaseException as error:  # handed to the test that waits for it
            self._error = error

    def result(self, timeout: float | None = None) -> Any:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"{self._function.__name__} still runs after {timeout} s")
        if self._error is not None:
            raise self._error
        return self._value


def started(config: Any, key: str) -> Job | None:
    """The job conftest started under ``key``, or None when it did not (a test run alone)."""
    return getattr(config, "tapeviz_jobs", {}).get(key)
