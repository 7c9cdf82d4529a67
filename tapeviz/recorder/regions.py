"""Regions: tapes, ``gradient`` calls and backward steps, and which of them each op ran in.

Regions nest (innermost last on the stack); each knows its parent. A backward step is matched
to the recorded forward op it differentiates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tapeviz import _tfhooks
from tapeviz.recorder.scopes import source_line
from tapeviz.recorder.tensors import Pair, Tensors, flatten
from tapeviz.recording import (
    BackwardStep,
    Conversion,
    GradientCall,
    Op,
    Recording,
    TapeRecord,
    TensorNode,
)


class Regions:
    def __init__(self, rec: Recording, tensors: Tensors, new_id: Callable[[], int]) -> None:
        self.rec = rec
        self.tensors = tensors
        self.new_id = new_id
        self.tapes: dict[int, tuple[Any, TapeRecord]] = {}  # id(tape) -> (tape, record)
        self.active_tapes: list[int] = []   # TapeRecord ids, outermost first
        self.stack: list[int] = []          # innermost last
        self.calls: list[tuple[Any, GradientCall]] = []
        self.steps: list[BackwardStep | None] = []
        self._by_type: dict[str, list[Op]] = {}   # ops recorded by a tape, by type
        self._differentiated: set[tuple[int, int]] = set()  # (gradient call id, op index)
        # (gradient call id, gradient tensor id) -> keys of the tensors it is the gradient of
        self._sent: dict[tuple[int, int], set[str]] = {}
        self._targets: list[TensorNode | None] = []  # of the gradient call starting

    @property
    def innermost(self) -> int | None:
        return self.stack[-1] if self.stack else None

    @property
    def call(self) -> GradientCall | None:
        return self.calls[-1][1] if self.calls else None

    def ran(self, op: Op) -> None:
        if op.tapes:
            self._by_type.setdefault(op.type, []).append(op)

    def tape_push(self, tape: Any) -> None:
        entry = self.tapes.get(id(tape))
        if entry is None:
            record = TapeRecord(id=self.new_id(), name=None,
                                persistent=_tfhooks.tape_is_persistent(tape),
                                watches_variables=_tfhooks.tape_watches_variables(tape),
                                parent=self.innermost)
            self.tapes[id(tape)] = (tape, record)  # the tape is kept so id() stays unique
            self.rec.tapes.append(record)
        record = self.tapes[id(tape)][1]
        self.active_tapes.append(record.id)
        self.stack.append(record.id)

    def tape_pop(self, tape: Any) -> None:
        entry = self.tapes.get(id(tape))
        if entry is not None and entry[1].id in self.active_tapes:
            self.active_tapes.remove(entry[1].id)
            _remove_last(self.stack, entry[1].id)

    def gradient_targets(self, target: Any) -> None:
        self._targets = self.tensors.known(target)

    def gradient_start(self, tape: Any, method: str, sources: Any) -> None:
        if id(tape) not in self.tapes:  # a tape entered before recording began
            self.tape_push(tape)
            self.tape_pop(tape)
        call = GradientCall(id=self.new_id(), tape=self.tapes[id(tape)][1].id,
                            method=method, targets=self._targets,
                            sources=self.tensors.known(sources), results=[],
                            parent=self.innermost)
        self.rec.gradient_calls.append(call)
        self.calls.append((tape, call))
        self.stack.append(call.id)

    def gradient_end(self, tape: Any, result: Any) -> None:
        _, call = self.calls.pop()
        _remove_last(self.stack, call.id)
        call.results = self.tensors.known(result)

    def watch(self, tape: Any, tensors: Any) -> None:
        entry = self.tapes.get(id(tape))
        if entry is not None:
            for item in flatten(tensors):
                tid = _tfhooks.tensor_id(item)
                entry[1].watched.add(tid if tid is not None else _tfhooks.variable_handle_id(item))

    def backward_start(self, op_type: str, inputs: list[Pair], outputs: list[Pair],
                       upstream: list[Pair | None]) -> None:
        call = self.call
        forward = self._forward_op(op_type, inputs, outputs, upstream, call)
        if forward is None or call is None:  # differentiating ops from before recording
            self.steps.append(None)
            return
        self._differentiated.add((call.id, forward.index))
        step = BackwardStep(id=self.new_id(), forward=forward, gradient_call=call.id,
                            upstream=[self.tensors.input(*g) if g else None for g in upstream],
                            downstream=[], parent=self.innermost)
        self.rec.backward_steps.append(step)
        self.steps.append(step)
        self.stack.append(step.id)

    def backward_end(self, downstream: list[Pair | None]) -> None:
        step = self.steps.pop()
        if step is not None:
            _remove_last(self.stack, step.id)
            step.downstream = [self.tensors.input(*g) if g else None for g in downstream]
            for node, grad in zip(step.forward.inputs, downstream, strict=False):
                if grad is not None:
                    self._sent.setdefault((step.gradient_call, grad[0]), set()).add(node.key)

    def _forward_op(self, op_type: str, inputs: list[Pair], outputs: list[Pair],
                    upstream: list[Pair | None], call: GradientCall | None) -> Op | None:
        """The recorded op a backward step differentiates.

        Its outputs identify it; when TensorFlow passes none (gradients that do not need
        them, e.g. ReadVariableOp), take an op of that type, with the inputs TensorFlow passed
        (only those its gradient needs: Reshape's tensor, not its shape), not yet
        differentiated by this call: best one whose output the upstream gradient was sent to
        by an earlier step, then one the call's tape recorded, then the newest (the tape
        differentiates in reverse order of execution).
        """
        by_id = self.tensors.by_id
        for tid, _ in outputs:
            node = by_id.get(tid)
            if node is not None and node.producer is not None:
                return node.producer
        input_ids = {tid for tid, _ in inputs}
        candidates = (op for op in reversed(self._by_type.get(op_type, ()))
                      if (call is None or (call.id, op.index) not in self._differentiated)
                      and input_ids <= {n.id for n in op.inputs})
        if call is None:
            return next(candidates, None)
        sent = set().union(*(self._sent.get((call.id, g[0]), set()) for g in upstream if g))
        best, best_rank = None, (False, False)
        for op in candidates:  # the first (newest) of the best rank
            rank = (any(n.key in sent for n in op.outputs), call.tape in op.tapes)
            if best is None or rank > best_rank:
                best, best_rank = op, rank
                if rank == (True, True):
                    break
        return best

    def left_tensorflow(self, tensor_id: int, how: str, filename: str | None,
                        line: int | None) -> None:
        """A value taken out of TensorFlow inside a tape: where the tape stops seeing it."""
        node = self.tensors.by_id.get(tensor_id)
        if node is None or not self.active_tapes:
            return
        code = source_line(filename, line)
        self.rec.conversions.append(Conversion(node.key, how, line, code))


def _remove_last(stack: list[int], item: int) -> None:
    for i in range(len(stack) - 1, -1, -1):
        if stack[i] == item:
            del stack[i]
            return
