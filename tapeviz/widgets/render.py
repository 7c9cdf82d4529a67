"""One coalescing render path: ``request()`` from any click or step, draws in one thread.

A request never waits for drawing. The drawing thread draws the newest state, at most every
``interval`` seconds, so ten requests during one draw cost one more draw, not ten. It stops
after a while without requests and starts again on the next one.

>>> drawn = []
>>> renderer = Renderer(lambda: drawn.append(len(drawn)), interval=0.01)
>>> for _ in range(50):
...     renderer.request()
>>> renderer.flush()
>>> 1 <= len(drawn) <= 3
True
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable

IDLE = 5.0  # seconds without a request before the drawing thread ends


class Renderer:
    """Calls ``draw()`` in a background thread after requests, coalescing them."""

    def __init__(self, draw: Callable[[], None], interval: float = 0.05,
                 on_error: Callable[[str], None] | None = None):
        self.interval = interval
        self._draw, self._on_error = draw, on_error
        self._changed = threading.Condition()
        self._wanted = self._done = 0  # requests made; requests covered by a finished draw
        self._thread: threading.Thread | None = None
        self._closed = False

    def request(self) -> None:
        """Ask for a redraw of the current state; returns at once."""
        with self._changed:
            if self._closed:
                return
            self._wanted += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="SGDStepper-draw",
                                                daemon=True)
                self._thread.start()
            self._changed.notify_all()

    def flush(self, timeout: float | None = None) -> None:
        """Wait until a draw that began after the last request has finished."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            target = self._wanted
            while self._done < target and self._thread is not None:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError(f"the views did not catch up within {timeout} s")
                self._changed.wait(left)

    def close(self) -> None:
        """No more drawing; the thread ends after the draw in progress."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def _run(self) -> None:
        last = -float("inf")
        while True:
            with self._changed:
                if not self._wait_for_work():
                    self._thread = None
                    self._changed.notify_all()
                    return
            time.sleep(max(0.0, last + self.interval - time.monotonic()))  # requests pile up
            with self._changed:
                target = self._wanted
            last = time.monotonic()
            try:
                self._draw()
            except Exception:  # a broken view must not stop the others for good
                if self._on_error is not None:
                    self._on_error(traceback.format_exc(limit=3))
            with self._changed:
                self._done = target
                self._changed.notify_all()

    def _wait_for_work(self) -> bool:
        """With the lock held: True when there is a request to draw, False to end the thread."""
        while self._done == self._wanted and not self._closed:
            if not self._changed.wait(IDLE) and self._done == self._wanted:
                return False
        return not self._closed
