"""Naming at the end: the user's Python names for tensors, variables and tapes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from typing import Any

from tapeviz import _tfhooks
from tapeviz.recorder.regions import Regions
from tapeviz.recorder.tensors import Tensors, shape_of, value_of, variable_name
from tapeviz.recording import Recording, TensorNode


def name(rec: Recording, namespace: Mapping[str, Any], tensors: Tensors,
         regions: Regions, values: int) -> None:
    """Give tensors, variables and tapes the Python names that refer to them.

    Named tensors and variables whose values were not kept (past the first ``values``
    tensors) get them now, from the objects the names refer to.
    """
    for variable in _owned_variables(namespace):  # e.g. a tf.function's captured weights
        tensors.variables.setdefault(_tfhooks.variable_handle_id(variable), variable)
    versions: dict[int, list[TensorNode]] = {}
    for node in rec.tensors.values():
        if node.is_variable:
            versions.setdefault(node.id, []).append(node)
    for handle, variable in tensors.variables.items():
        trainable = bool(getattr(variable, "trainable", True))
        for node in versions.get(handle, ()):
            node.trainable = trainable
            if node.variable_name is None:
                node.variable_name = variable_name(variable)
                node.shape, node.dtype = shape_of(variable), variable.dtype.name
        newest = versions.get(handle, [None])[-1]
        if newest is not None and newest.value is None and tensors.values_dropped:
            newest.value = value_of(_tfhooks.read_unseen(variable.handle, variable.dtype))
    tapes = {id(tape): record for tape, record in regions.tapes.values()}
    for python_name, value in _user_names(namespace):
        if id(value) in tapes and tapes[id(value)].name is None:
            tapes[id(value)].name = python_name
            continue
        handle = _tfhooks.variable_handle_id(value)
        if handle is not None:
            for node in versions.get(handle, ()):
                node.name = node.name or python_name
            continue
        node = rec.tensors.get(f"t{_tfhooks.tensor_id(value)}")
        if node is not None and node.name is None:
            node.name = python_name
            if node.value is None:
                node.value = value_of(value)
    if tensors.values_dropped:
        rec.notes.append(f"Values were kept for the first {values:,} tensors (and for "
                         "named ones); later tensors show their shape and dtype only.")
    if not rec.ops:
        rec.notes.append("This cell ran no TensorFlow op, so there is nothing to draw.")


def _user_names(namespace: Mapping[str, Any]) -> Iterable[tuple[str, Any]]:
    """(name, value) pairs: public names, and items of short lists/tuples as ``name[i]``."""
    for python_name, value in list(namespace.items()):
        if python_name.startswith("_"):
            continue
        if isinstance(value, (list, tuple)) and len(value) <= 32:
            for i, item in enumerate(value):
                yield f"{python_name}[{i}]", item
        else:
            yield python_name, value


def _owned_variables(namespace: Mapping[str, Any]) -> Iterable[Any]:
    """The tf.Variables of the Keras models, layers, optimizers, metrics and tf.Modules the
    user's names refer to, so that variables only ever used inside a tf.function (whose
    handles it captured) still show their own names."""
    owners = [value for _, value in _user_names(namespace) if hasattr(value, "variables")]
    owners += [value.optimizer for value in owners if hasattr(value, "optimizer")]
    for owner in owners:
        with contextlib.suppress(Exception):  # a property that fails says nothing about us
            for item in list(owner.variables):
                variable = _tfhooks.tf_variable(item)
                if variable is not None:
                    yield variable
