"""Scopes while the cell runs: which calls of the user's own Python functions an op ran in.

The stack is walked only up to the innermost frame of the user's code (a few frames of
TensorFlow in between); the rest of the walk is done only when that frame changed since the
last op. A call seen for the first time gets a :class:`Call`, numbered when the recording is
built, so scope ids interleave with tapes and layers in the order things happened.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from typing import Any

_LIBRARY_PATHS = tuple(
    {sysconfig.get_path(name) for name in ("stdlib", "platstdlib", "purelib", "platlib")}
    | {os.path.dirname(os.path.dirname(os.path.abspath(__file__)))})


class UserCode(dict):
    """``code object -> bool``: code the user wrote (a cell, a script, their module), not a
    library's; each code object is judged once."""

    def __missing__(self, code: Any) -> bool:
        filename = code.co_filename
        self[code] = user = not (filename.startswith(_LIBRARY_PATHS)
                                 or filename.startswith("<frozen") or "site-packages" in filename)
        return user


class Call:
    """One call of a user's function; ``id`` is given when the recording is built."""

    __slots__ = ("name", "id")

    def __init__(self, name: str) -> None:
        self.name = name
        self.id: int | None = None


class FunctionScopes:
    """The user's function calls on the stack, outermost first, as :class:`Call` objects."""

    def __init__(self) -> None:
        self.user_code = UserCode()
        self.stop_frame: Any = None  # the frame that started recording: not a scope itself
        self._calls: dict[int, tuple[Any, Call]] = {}  # id(frame) -> (frame, call)
        self._last_frame: Any = None  # innermost user frame of the last op
        self._last: tuple[Call, ...] = ()

    def user_frame(self, frame: Any) -> Any:
        """The innermost frame of the user's code at or above ``frame``, or None."""
        user_code = self.user_code
        while frame is not None and not user_code[frame.f_code]:
            frame = frame.f_back
        return frame

    def current(self) -> tuple[Call, ...]:
        """The calls the current op runs in. A frame is held only while it is on the stack,
        so each call of a function is its own scope."""
        frame = self.user_frame(sys._getframe(1))
        if frame is self._last_frame:  # still in the same call as the last op: same scopes
            return self._last
        innermost, frames = frame, []
        user_code = self.user_code
        while frame is not None:
            if user_code[frame.f_code]:
                name = frame.f_code.co_name
                if name == "<module>" or frame is self.stop_frame:
                    break
                if not name.startswith("<"):  # not a lambda or comprehension
                    frames.append(frame)
            frame = frame.f_back
        known = self._calls
        if not frames:
            known.clear()
            self._last_frame, self._last = innermost, ()
            return ()
        current = {id(f): f for f in frames}
        for key in [key for key, (f, _) in known.items() if current.get(key) is not f]:
            del known[key]  # that call has returned
        for f in frames:
            if id(f) not in known:
                known[id(f)] = (f, Call(getattr(f.f_code, "co_qualname", f.f_code.co_name)))
        self._last_frame = innermost
        self._last = tuple(known[id(f)][1] for f in reversed(frames))
        return self._last

    def release(self) -> None:
        """Hold no frame (and so none of its locals) once recording ends."""
        self.stop_frame = self._last_frame = None
        self._calls.clear()
