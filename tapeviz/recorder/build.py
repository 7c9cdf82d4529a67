"""Build the Recording from the log of hook events, in the order they happened.

Each event of the log is replayed here: this is where ops and tensor nodes are made, values
summarised, regions and scopes tracked. A failing event is kept as an error of the recording
stage (as a failing hook would have been) and the rest is still built.
"""

from __future__ import annotations

import itertools
from typing import Any

from tapeviz import _tfhooks
from tapeviz.recorder.regions import Regions
from tapeviz.recorder.scopes import Call, source_line
from tapeviz.recorder.tensors import Pair, Tensors
from tapeviz.recording import Op, Recording, Scope


class Builder:
    def __init__(self, rec: Recording, values: int, keep_tensors: bool, max_ops: int) -> None:
        self.rec = rec
        self.max_ops = max_ops
        self.new_id = itertools.count(1).__next__  # tapes, calls, steps and scopes share ids
        self.tensors = Tensors(rec, values, keep_tensors)
        self.regions = Regions(rec, self.tensors, self.new_id)
        self.attrs: dict[int, tuple] = {}   # op index -> op attributes (--target/--check)
        self._layers: list[Scope] = []
        self._layer_names: tuple[str, ...] = ()
        self._layer_scopes: tuple[int, ...] = ()
        # ops repeat a few lines and scopes: each is looked up once
        self._lines: dict[tuple[str, int] | None, tuple[int | None, str]] = {None: (None, "")}
        self._scopes: dict[tuple[Call, ...], tuple[int, ...]] = {}
        regions, tensors = self.regions, self.tensors
        self._handlers = {
            "op": self.op, "truncated": self.truncated,
            "variable": tensors.on_variable, "variable_written": tensors.on_variable_written,
            "tape_push": regions.tape_push, "tape_pop": regions.tape_pop,
            "gradient_targets": regions.gradient_targets,
            "gradient_start": regions.gradient_start, "gradient_end": regions.gradient_end,
            "watch": regions.watch, "backward_start": regions.backward_start,
            "backward_end": regions.backward_end, "left_tensorflow": regions.left_tensorflow,
            "layer_start": self.layer_start, "layer_end": self.layer_end,
        }

    def replay(self, log: list[tuple], errors: list[Exception]) -> None:
        handlers = self._handlers
        for kind, *args in log:
            try:
                handlers[kind](*args)
            except Exception as error:
                errors.append(error)

    def op(self, op_type: str, inputs: list[Pair], outputs: list[Pair], attrs: tuple,
           calls: tuple[Call, ...], where: tuple[str, int] | None) -> None:
        regions, tensors = self.regions, self.tensors
        call, steps = regions.call, regions.steps
        line, code = self._line(where)
        op = Op(index=len(self.rec.ops), type=op_type, inputs=[], outputs=[],
                phase="backward" if call else "forward",
                tapes=tuple(regions.active_tapes), region=regions.innermost,
                gradient_call=call.id if call else None, layers=self._layer_names,
                # backward ops are grouped by the forward op they differentiate instead
                scope=() if call else self._scope_ids(calls) + self._layer_scopes,
                function=_tfhooks.function_name(op_type),
                differentiates=steps[-1].forward.index if steps and steps[-1] else None,
                line=line, code=code)
        op.inputs = [tensors.input(tid, t) for tid, t in inputs]
        if not outputs and op.inputs and op.inputs[0].is_variable:  # a write: a new version
            tensors.written(op)
        else:
            op.outputs = [tensors.output(tid, t, op) for tid, t in outputs]
        self.rec.ops.append(op)
        regions.ran(op)
        if tensors.keep_tensors:
            self.attrs[op.index] = attrs

    def truncated(self) -> None:
        self.rec.truncated = True
        self.rec.notes.append(f"Recording stopped after {self.max_ops:,} ops; the cell ran "
                              "to its end. Record a smaller part of it to see everything.")

    def _line(self, where: tuple[str, int] | None) -> tuple[int | None, str]:
        known = self._lines.get(where)
        if known is None:
            known = self._lines[where] = (where[1], source_line(*where))
        return known

    def _scope_ids(self, calls: tuple[Call, ...]) -> tuple[int, ...]:
        ids = self._scopes.get(calls)
        if ids is None:
            for call in reversed(calls):  # first seen here: numbered innermost first
                if call.id is None:
                    call.id = self.new_id()
                    self.rec.scopes[call.id] = Scope(id=call.id, name=call.name,
                                                     kind="function")
            ids = self._scopes[calls] = tuple(call.id for call in calls)
        return ids

    def layer_start(self, layer: Any, method: str) -> None:
        name = str(getattr(layer, "name", type(layer).__name__))
        if method in _tfhooks.TRAINING_METHODS:  # a whole loop: "net.fit"
            name = f"{name}.{method}"
        scope = Scope(id=self.new_id(), kind="layer", cls=type(layer).__name__, name=name)
        self.rec.scopes[scope.id] = scope
        self._layers.append(scope)
        self._layers_changed()

    def layer_end(self, layer: Any) -> None:
        self._layers.pop()
        self._layers_changed()

    def _layers_changed(self) -> None:  # kept as tuples: every op reads them
        self._layer_names = tuple(s.name for s in self._layers)
        self._layer_scopes = tuple(s.id for s in self._layers)
