"""A Recording as JSON and back: recordings stored as files, for tests without TensorFlow.

Everything a Recording holds round-trips: ops refer to tensors by key and to each other by
index, regions by id; values are lists with their dtype, summaries their numbers.

>>> from tapeviz.recording import Recording
>>> loads(dumps(Recording())).ops
[]

(A module of its own, not methods of the Recording: the data model imports nothing after it.)
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from tapeviz.recording import (
    BackwardStep,
    Conversion,
    Finding,
    GradientCall,
    InternalError,
    Op,
    Recording,
    Scope,
    Summary,
    TapeRecord,
    TensorNode,
)

FORMAT = 1


def dumps(rec: Recording) -> str:
    """Everything ``rec`` holds, as JSON text."""
    data = {
        "format": FORMAT,
        "tensors": [_tensor(node) for node in rec.tensors.values()],
        "ops": [_op(op) for op in rec.ops],
        "tapes": [{"id": t.id, "name": t.name, "persistent": t.persistent, "parent": t.parent,
                   "watched": sorted(t.watched, key=str),
                   "watches_variables": t.watches_variables} for t in rec.tapes],
        "gradient_calls": [{"id": c.id, "tape": c.tape, "method": c.method,
                            "targets": _keys(c.targets), "sources": _keys(c.sources),
                            "results": _keys(c.results), "parent": c.parent}
                           for c in rec.gradient_calls],
        "backward_steps": [{"id": s.id, "forward": s.forward.index,
                            "gradient_call": s.gradient_call, "upstream": _keys(s.upstream),
                            "downstream": _keys(s.downstream), "parent": s.parent}
                           for s in rec.backward_steps],
        "scopes": [vars_of(s) for s in rec.scopes.values()],
        "diagnostics": [vars_of(f) for f in rec.diagnostics],
        "checks": rec.checks,
        "target": rec.target.key if rec.target is not None else None,
        "notes": rec.notes,
        "truncated": rec.truncated,
        "conversions": [vars_of(c) for c in rec.conversions],
        "internal_errors": [vars_of(e) for e in rec.internal_errors],
    }
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def loads(text: str) -> Recording:
    """The Recording :func:`dumps` wrote; no TensorFlow needed."""
    data = json.loads(text)
    if data.get("format") != FORMAT:
        raise ValueError(f"not a tapeviz recording of format {FORMAT}: {data.get('format')!r}")
    rec = Recording()
    for item in data["tensors"]:
        node = TensorNode(id=item["id"], kind=item["kind"], shape=_shape(item["shape"]),
                          dtype=item["dtype"], value=_value(item["value"]), name=item["name"],
                          variable_name=item["variable_name"], version=item["version"],
                          grad=_value(item["grad"]), trainable=item.get("trainable", True))
        rec.tensors[node.key] = node
    tensors = rec.tensors
    for item in data["ops"]:
        rec.ops.append(Op(index=item["index"], type=item["type"],
                          inputs=[tensors[k] for k in item["inputs"]],
                          outputs=[tensors[k] for k in item["outputs"]], phase=item["phase"],
                          tapes=tuple(item["tapes"]), region=item["region"],
                          gradient_call=item["gradient_call"], layers=tuple(item["layers"]),
                          function=item["function"], differentiates=item["differentiates"],
                          scope=tuple(item["scope"]), line=item.get("line"),
                          code=item.get("code", "")))
    for item in data["tensors"]:
        if item["producer"] is not None:
            tensors[_key(item)].producer = rec.ops[item["producer"]]
    rec.tapes = [TapeRecord(id=t["id"], name=t["name"], persistent=t["persistent"],
                            parent=t["parent"], watched=set(t["watched"]),
                            watches_variables=t.get("watches_variables", True))
                for t in data["tapes"]]
    rec.gradient_calls = [
        GradientCall(id=c["id"], tape=c["tape"], method=c["method"],
                     targets=_nodes(tensors, c["targets"]), sources=_nodes(tensors, c["sources"]),
                     results=_nodes(tensors, c["results"]), parent=c["parent"])
        for c in data["gradient_calls"]]
    rec.backward_steps = [
        BackwardStep(id=s["id"], forward=rec.ops[s["forward"]], gradient_call=s["gradient_call"],
                     upstream=_nodes(tensors, s["upstream"]),
                     downstream=_nodes(tensors, s["downstream"]), parent=s["parent"])
        for s in data["backward_steps"]]
    rec.scopes = {s["id"]: Scope(**s) for s in data["scopes"]}
    rec.diagnostics = [Finding(kind=f["kind"], message=f["message"], nodes=tuple(f["nodes"]),
                               ops=tuple(f["ops"])) for f in data["diagnostics"]]
    rec.checks = data["checks"]
    rec.target = tensors[data["target"]] if data["target"] is not None else None
    rec.notes = data["notes"]
    rec.truncated = data["truncated"]
    rec.conversions = [Conversion(**c) for c in data["conversions"]]
    rec.internal_errors = [InternalError(**e) for e in data["internal_errors"]]
    return rec


def vars_of(item: Any) -> dict[str, Any]:
    return {name: _plain(getattr(item, name)) for name in item.__dataclass_fields__}


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _tensor(node: TensorNode) -> dict[str, Any]:
    return {"id": node.id, "kind": node.kind, "shape": node.shape, "dtype": node.dtype,
            "value": _encoded(node.value), "name": node.name,
            "variable_name": node.variable_name, "version": node.version,
            "producer": node.producer.index if node.producer is not None else None,
            "grad": _encoded(node.grad), "trainable": node.trainable}


def _op(op: Op) -> dict[str, Any]:
    return {"index": op.index, "type": op.type, "inputs": [n.key for n in op.inputs],
            "outputs": [n.key for n in op.outputs], "phase": op.phase, "tapes": op.tapes,
            "region": op.region, "gradient_call": op.gradient_call, "layers": op.layers,
            "function": op.function, "differentiates": op.differentiates, "scope": op.scope,
            "line": op.line, "code": op.code}


def _encoded(value: np.ndarray | Summary | None) -> Any:
    if value is None:
        return None
    if isinstance(value, Summary):
        return {"summary": vars_of(value)}
    if value.dtype.kind == "c":
        return {"dtype": value.dtype.name, "shape": value.shape,
                "real": value.real.tolist(), "imag": value.imag.tolist()}
    return {"dtype": value.dtype.name, "shape": value.shape, "array": value.tolist()}


def _value(data: Any) -> np.ndarray | Summary | None:
    if data is None:
        return None
    if "summary" in data:
        fields = data["summary"]
        return Summary(**{**fields, "first": tuple(fields["first"])})
    if "real" in data:
        array = np.array(data["real"]) + 1j * np.array(data["imag"])
        return array.astype(data["dtype"]).reshape(data["shape"])
    return np.array(data["array"], dtype=data["dtype"]).reshape(data["shape"])


def _shape(shape: list | None) -> tuple[int | None, ...] | None:
    return tuple(shape) if shape is not None else None


def _key(item: dict[str, Any]) -> str:
    return f"v{item['id']}.{item['version']}" if item["kind"] == "variable" else f"t{item['id']}"


def _keys(nodes: list[TensorNode | None]) -> list[str | None]:
    return [n.key if n is not None else None for n in nodes]


def _nodes(tensors: dict[str, TensorNode], keys: list[str | None]) -> list[TensorNode | None]:
    return [tensors[k] if k is not None else None for k in keys]
