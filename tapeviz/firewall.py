"""tapeviz never fails a user's cell: a bug in tapeviz's own work becomes data, not an error.

Everything tapeviz does after the user's code ran (naming, gradients, diagnostics, collapsing,
drawing, rendering) runs inside :func:`guarded`. An exception there is kept as an
:class:`~tapeviz.recording.InternalError` that names the stage it came from, and whoever shows
the recording words it for its reader.

>>> errors = []
>>> with guarded(errors, "drawing"):
...     [][0]
>>> str(errors[0])
'IndexError in drawing: list index out of range'
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Iterator

from tapeviz.recording import InternalError

# the stage a tapeviz module does, for the innermost tapeviz frame of a traceback
STAGES = {"_tfhooks": "recording", "recorder": "naming", "gradients": "gradients",
          "diagnostics": "diagnostics", "collapse": "collapsing", "graph": "graph building",
          "render": "rendering"}


def internal_error(error: BaseException, stage: str) -> InternalError:
    """``error`` as data; ``stage`` unless the traceback shows a more precise one."""
    for frame, _ in traceback.walk_tb(error.__traceback__):
        module = frame.f_globals.get("__name__", "")
        if module.startswith("tapeviz."):
            stage = STAGES.get(module.split(".")[1], stage)
    return InternalError(stage=stage, kind=type(error).__name__, message=str(error),
                         traceback="".join(traceback.format_exception(error)))


@contextlib.contextmanager
def guarded(errors: list[InternalError], stage: str, debug: bool = False) -> Iterator[None]:
    """Run a stage of tapeviz's own work; on an exception, add it to ``errors`` and go on.

    ``debug=True`` lets the exception through instead, with tapeviz's traceback.
    """
    try:
        yield
    except Exception as error:
        if debug:
            raise
        errors.append(internal_error(error, stage))
