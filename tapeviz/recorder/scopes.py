"""Scopes while the cell runs: which calls of the user's own Python functions an op ran in.

The stack is walked only up to the innermost frame of the user's code (a few frames of
TensorFlow in between). When that frame changed since the last op, the walk goes on up only
to the first frame already known from an earlier op: what is above it is still the same. A
call seen for the first time gets a :class:`Call`, numbered when the recording is built, so
scope ids interleave with tapes and layers in the order things happened.
"""

from __future__ import annotations

import inspect
import linecache
import os
import sys
import sysconfig
from typing import Any

_LIBRARY_PATHS = tuple(
    {sysconfig.get_path(name) for name in ("stdlib", "platstdlib", "purelib", "platlib")}
    | {os.path.dirname(os.path.dirname(os.path.abspath(__file__)))})
# a generator's or coroutine's callers change each time it resumes: its frame is never reused
_RESUMABLE = (inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR
              | inspect.CO_ITERABLE_COROUTINE)


def source_line(filename: str | None, line: int | None) -> str:
    """The text of a line of the user's code (IPython keeps each cell's source for this)."""
    return linecache.getline(filename, line).strip() if filename and line else ""


class UserCode:
    """Whether a code object is code the user wrote (a cell, a script, their module), not a
    library's. Each code object is judged once and then found by ``id`` in a set: hashing a
    code object hashes its whole contents, and the stack walk looks up every frame of every
    op."""

    def __init__(self) -> None:
        self.library: set[int] = set()  # ids of codes judged a library's
        self.user: set[int] = set()     # ids of codes judged the user's
        self._codes: list[Any] = []  # the codes judged, kept alive so that no id is reused

    def is_user(self, code: Any) -> bool:
        key = id(code)
        if key in self.user:
            return True
        if key in self.library:
            return False
        filename = code.co_filename
        self._codes.append(code)
        user = not (filename.startswith(_LIBRARY_PATHS) or filename.startswith("<frozen")
                    or "site-packages" in filename)
        (self.user if user else self.library).add(key)
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
        # the user's frames on the stack at the last walk, outermost first, each with the
        # calls it runs in (itself included); a frame is held only while it is on the stack,
        # so each call of a function is its own scope
        self._known: list[tuple[Any, tuple[Call, ...]]] = []
        self._position: dict[int, int] = {}  # id(frame) -> its index in _known
        self._last_frame: Any = None  # innermost user frame of the last op
        self._last: tuple[Call, ...] = ()

    def user_frame(self, frame: Any) -> Any:
        """The innermost frame of the user's code at or above ``frame``, or None."""
        library, is_user = self.user_code.library, self.user_code.is_user
        while frame is not None:
            code = frame.f_code
            # the set first: most frames are a library's, and is_user() is a call more
            if id(code) not in library and is_user(code):
                return frame
            frame = frame.f_back
        return None

    def current(self) -> tuple[tuple[Call, ...], tuple[str, int] | None]:
        """The calls the op running now runs in, and the file and line of the user's code
        that ran it. Called by the recorder's op event: the walk starts above it."""
        frame = self.user_frame(sys._getframe(2))
        if frame is not self._last_frame:  # else still in the same call as the last op
            self._last_frame, self._last = frame, self._calls(frame)
        return self._last, None if frame is None else (frame.f_code.co_filename, frame.f_lineno)

    def _calls(self, innermost: Any) -> tuple[Call, ...]:
        known, position = self._known, self._position
        is_user = self.user_code.is_user
        new, above, kept = [], (), 0
        frame = innermost
        while frame is not None:
            index = position.get(id(frame))
            if index is not None and known[index][0] is frame:
                above, kept = known[index][1], index + 1
                break
            code = frame.f_code
            if is_user(code):
                if code.co_name == "<module>" or frame is self.stop_frame:
                    break
                new.append(frame)
            frame = frame.f_back
        for returned, _ in known[kept:]:  # no longer on the stack: those calls have returned
            del position[id(returned)]
        del known[kept:]
        for frame in reversed(new):
            code = frame.f_code
            if not code.co_name.startswith("<"):  # not a lambda or comprehension
                above += (Call(getattr(code, "co_qualname", code.co_name)),)
            if not code.co_flags & _RESUMABLE:
                position[id(frame)] = len(known)
                known.append((frame, above))
        return above

    def release(self) -> None:
        """Hold no frame (and so none of its locals) once recording ends."""
        self.stop_frame = self._last_frame = None
        self._known.clear()
        self._position.clear()
