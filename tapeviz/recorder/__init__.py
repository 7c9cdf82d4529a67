"""Turn hook events into a :class:`~tapeviz.recording.Recording`, lazily.

While the cell runs, the :class:`Recorder` only appends one small tuple per hook event to a
log and keeps references to the tensors (eager tensors never change) within a byte budget.
Everything else happens when the block ends: :mod:`.build` replays the log into ops, tensor
nodes (:mod:`.tensors`), regions (:mod:`.regions`) and scopes, and :mod:`.naming` gives them
the user's Python names. :mod:`.scopes` finds the user's function calls as ops run.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from types import FrameType, TracebackType
from typing import Any

import tensorflow as tf

from tapeviz import _tfhooks, gradients
from tapeviz.firewall import guarded, internal_error
from tapeviz.recorder import naming
from tapeviz.recorder.build import Builder
from tapeviz.recorder.scopes import FunctionScopes
from tapeviz.recorder.tensors import Kept, Pair, computable, flatten, snapshot
from tapeviz.recording import Recording
from tapeviz.summaries import summarize

MAX_OPS = 20_000        # recording stops here; the cell itself runs on unchanged
VALUES = 2_000          # tensors whose values are kept; later ones keep shape and dtype
BUDGET = 256 * 2**20    # bytes of tensors referred to while the cell runs; past it, summaries
NOTED = 2**20           # tensors summarised past the budget are noted from this many bytes on


class Recorder:
    """Receives :mod:`tapeviz._tfhooks` events (the hot path: it only appends to a log)."""

    def __init__(self, max_ops: int = MAX_OPS, keep_tensors: bool = False) -> None:
        self.recording = Recording()
        self.max_ops = max_ops
        # --target/--check replay and differentiate recorded tensors: then keep them all (and
        # the ops' attributes) until the end of the recording
        self.keep_tensors = keep_tensors
        self.log: list[tuple] = []
        self.scopes = FunctionScopes()
        self.live: dict[str, Any] = {}      # node key -> tensor (--target/--check)
        self.attrs: dict[int, tuple] = {}   # op index -> op attributes (--target/--check)
        self._values = VALUES
        self._kept = Kept(None if keep_tensors else BUDGET, VALUES)
        self._ops = 0
        self._gradients = 0  # gradient calls running: their ops are backward ops, no scopes
        self._builder: Builder | None = None

    # -- hook events: the hot path -----------------------------------------------------------
    def on_op(self, op_type: str, inputs: list[Pair], outputs: list[Pair],
              attrs: tuple = ()) -> None:
        if self._ops >= self.max_ops:
            if self._ops == self.max_ops:
                self._ops += 1
                self.log.append(("truncated",))
            return
        self._ops += 1
        kept = self._kept
        # backward ops: no scopes, and the line is the gradient call's
        calls, where = self.scopes.current() if not self._gradients else ((), None)
        self.log.append(("op", op_type, kept.pairs(inputs), kept.outputs(outputs),
                         attrs if self.keep_tensors else (), calls, where))

    def on_variable(self, handle_id: int, variable: Any, value: Any) -> None:
        self.log.append(("variable", handle_id, variable, _snapshot(value)))

    def on_variable_written(self, handle_id: int, read: Callable[[], Any]) -> None:
        if self._kept.values_left <= 0:  # the recording keeps no more values: nothing to read
            return
        last = self.log[-1] if self.log and self._ops <= self.max_ops else ("truncated",)
        if last[0] != "op" or not computable(last[1], last[2]):  # else read back, now
            self.log.append(("variable_written", handle_id, _snapshot(read())))

    def on_tape_push(self, tape: Any) -> None:
        self.log.append(("tape_push", tape))

    def on_tape_pop(self, tape: Any) -> None:
        self.log.append(("tape_pop", tape))

    def on_gradient_start(self, tape: Any, method: str, target: Any, sources: Any) -> None:
        self._gradients += 1
        _report_variables(target)  # targets' nodes are made before sources' variables
        self.log.append(("gradient_targets", target))
        _report_variables(sources)
        self.log.append(("gradient_start", tape, method, sources))

    def on_gradient_end(self, tape: Any, result: Any) -> None:
        self._gradients -= 1
        _report_variables(result)
        self.log.append(("gradient_end", tape, result))

    def on_watch(self, tape: Any, tensors: Any) -> None:
        _report_variables(tensors)
        self.log.append(("watch", tape, tensors))

    def on_backward_start(self, op_type: str, inputs: list[Pair], outputs: list[Pair],
                          upstream: list[Pair | None]) -> None:
        kept = self._kept.pairs
        self.log.append(("backward_start", op_type, kept(inputs), kept(outputs),
                         kept(upstream)))

    def on_backward_end(self, downstream: list[Pair | None]) -> None:
        self.log.append(("backward_end", self._kept.pairs(downstream)))

    def on_left_tensorflow(self, tensor_id: int, how: str) -> None:
        frame = self.scopes.user_frame(sys._getframe(1))
        where = (frame.f_code.co_filename, frame.f_lineno) if frame is not None else (None, None)
        self.log.append(("left_tensorflow", tensor_id, how, *where))

    def on_layer_start(self, layer: Any, method: str = "__call__") -> None:
        self.log.append(("layer_start", layer, method))

    def on_layer_end(self, layer: Any) -> None:
        self.log.append(("layer_end", layer))

    def release_frames(self) -> None:
        """Hold no frame (and so none of its locals) once recording ends."""
        self.scopes.release()

    # -- the end -----------------------------------------------------------------------------
    def build(self, errors: list[Exception]) -> Recording:
        """Replay the log into the Recording; errors are kept in ``errors``, as hooks' are."""
        self._builder = builder = Builder(self.recording, self._values, self.keep_tensors,
                                          self.max_ops)
        self.live, self.attrs = builder.tensors.live, builder.attrs
        log, self.log = self.log, []
        builder.replay(log, errors)
        summarised = self._kept.summarised
        if summarised >= NOTED:
            self.recording.notes.append(
                f"This cell made more tensors than tapeviz keeps while a cell runs "
                f"({BUDGET / 2**20:,.0f} MB): the {summarised / 2**20:,.0f} MB past that were "
                "summarised as they were made, so recording held no more memory than that; "
                "values and picture are the same. (tapeviz.recorder.BUDGET sets it.)")
        return self.recording

    def finish(self, namespace: Mapping[str, Any]) -> Recording:
        """Give tensors, variables and tapes the Python names that refer to them."""
        builder = self._builder or Builder(self.recording, self._values, self.keep_tensors,
                                           self.max_ops)
        naming.name(self.recording, namespace, builder.tensors, builder.regions, self._values)
        return self.recording


def _report_variables(structure: Any) -> None:
    """Read the handle of each variable in ``structure`` while the hooks see it: a variable
    first seen here gets its first version (``on_variable``) now, with its value now."""
    for item in flatten(structure):
        _tfhooks.variable_handle_id(item)


def _snapshot(value: Any) -> Any:
    """A variable read, taken at once: the variable may change before the end."""
    return snapshot(value) if value is not None else None


class record:  # noqa: N801 - used like a function: `with tapeviz.record() as rec:`
    """Record every eager TensorFlow op run inside the ``with`` block.

    Tensors get the Python names that refer to them when the block ends, looked up in
    ``namespace`` (default: the caller's globals and locals). Gradients on the nodes are those
    of the block's last ``tape.gradient`` call, or of ``target`` (an expression evaluated in
    the namespace at the end) with respect to ``sources`` (names); ``check=True`` compares
    them with finite differences. ``max_ops`` caps the recording (the code runs on).

    A bug in tapeviz never breaks the block: it ends up in ``rec.internal_errors`` (and the
    summary) instead; ``debug=True`` raises it, with tapeviz's traceback.

    >>> import tapeviz, tensorflow as tf
    >>> with tapeviz.record() as rec:
    ...     y = tf.constant(2.0) * 3.0
    >>> rec.named("y").value
    array(6., dtype=float32)
    """

    def __init__(self, namespace: Mapping[str, Any] | None = None, *,
                 target: str | None = None, sources: Sequence[str] | str | None = None,
                 check: bool = False, max_ops: int = MAX_OPS, debug: bool = False) -> None:
        self._namespace = namespace
        self._debug = debug
        self._target = target
        self._sources = [sources] if isinstance(sources, str) else list(sources or [])
        self._check = check
        self._recorder = Recorder(max_ops=max_ops, keep_tensors=bool(target or check))
        self._own_tape: Any = None
        self._frame: FrameType | None = None
        self._hooks: Any = None
        self._errors: list[Exception] = []

    def __enter__(self) -> Recording:
        self._recorder.scopes.stop_frame = sys._getframe(1)
        if self._namespace is None:
            self._frame = sys._getframe(1)
        if self._target is not None:  # entered before the hooks: invisible to the recording
            self._own_tape = tf.GradientTape(persistent=True)
            self._own_tape.__enter__()
        self._hooks = _tfhooks.installed(self._recorder)
        self._errors = self._hooks.__enter__()
        return self._recorder.recording

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._hooks.__exit__(None, None, None)
        if self._own_tape is not None:
            self._own_tape.__exit__(None, None, None)
        namespace = self._namespace
        if namespace is None and self._frame is not None:
            namespace = {**self._frame.f_globals, **self._frame.f_locals}
            self._frame = None
        recorder = self._recorder
        rec = recorder.recording
        recorder.release_frames()
        try:
            recorder.build(self._errors)
            with guarded(rec.internal_errors, "naming", self._debug):
                recorder.finish(namespace or {})
            with guarded(rec.internal_errors, "gradients", self._debug):
                gradients.analyze(rec, namespace or {}, target=self._target,
                                  sources=self._sources, check_sources=self._check,
                                  live=recorder.live, attrs=recorder.attrs,
                                  own_tape=self._own_tape, summarize=summarize)
        finally:
            recorder.live.clear()  # what --target/--check kept alive is not needed any more
            recorder.attrs.clear()
            self._own_tape = None
        if self._errors:
            rec.internal_errors += [internal_error(e, "recording") for e in self._errors]
            rec.notes.append(
                f"tapeviz missed part of this cell ({len(self._errors)} internal errors, first: "
                f"{self._errors[0]!r}); the cell itself ran normally. Please report this.")
