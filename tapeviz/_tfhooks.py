"""The only module that touches TensorFlow (and Keras) private APIs.

Everything version-specific about *how* tapeviz sees eager execution lives here:

- an op callback (``op_callbacks.add_op_callback``) sees each eager op with its real input and
  output tensors, backward ops of ``tape.gradient`` included;
- ``pywrap_tfe.TFE_Py_FastPathExecute`` is wrapped so that ``tf.Variable`` arguments are read
  in Python first: the C++ fast path reads them without telling op callbacks, so ``tf.square(v)``
  would otherwise lose ``v`` from the picture;
- ``BaseResourceVariable.handle`` is wrapped to learn which variable owns which handle tensor;
- ``GradientTape._push_tape/_pop_tape/watch/gradient/jacobian/batch_jacobian`` are wrapped to
  know which tapes recorded an op, what was watched, and which ``gradient`` call ran it;
- ``Registry.lookup`` is wrapped (for the gradient registry, when the eager tape asks) to see
  each backward step: which forward op is being differentiated, with the gradients flowing in
  and out (the chain rule, link by link);
- the conversions of an eager tensor to NumPy or Python (``.numpy()``, ``__array__``,
  ``float()``, ``int()``, ``bool()``, ...) are wrapped to see where a value leaves TensorFlow;
- ``keras.Layer.__call__``, ``keras.losses.Loss.__call__``, the optimizers' ``apply`` and
  ``Model.fit/evaluate/predict`` (when Keras is already imported) are wrapped to know the
  layer, loss, update or training loop an op belongs to.

:func:`installed` installs all of it for one thread and always restores every attribute, on
exceptions and ``KeyboardInterrupt`` too. Events go to a *sink* (see :class:`HookSink`), which
sees plain Python values: ``(tensor_id, tensor)`` pairs, variables, tapes and layers.
"""

from __future__ import annotations

import contextlib
import functools
import re
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from tensorflow.python import pywrap_tfe
from tensorflow.python.eager import backprop, context, execute, record
from tensorflow.python.framework import op_callbacks, op_def_registry, ops, registry
from tensorflow.python.framework.ops import EagerTensor
from tensorflow.python.ops import gen_resource_variable_ops, resource_variable_ops

Variable = resource_variable_ops.BaseResourceVariable
DT_RESOURCE = 20  # types_pb2.DT_RESOURCE: the dtype of variable handles
_UNREADABLE = frozenset({DT_RESOURCE, 21, 7})  # DT_VARIANT, DT_STRING: no NumPy view either


class HookSink(Protocol):
    """What :func:`installed` reports to. All calls happen on the recording thread."""

    def on_op(self, op_type: str, inputs: list[tuple[int, Any]],
              outputs: list[tuple[int, Any]], attrs: tuple) -> None: ...
    def on_variable(self, handle_id: int, variable: Any, value: Any) -> None: ...
    def on_variable_written(self, handle_id: int, read: Callable[[], Any]) -> None: ...
    def on_tape_push(self, tape: Any) -> None: ...
    def on_tape_pop(self, tape: Any) -> None: ...
    def on_gradient_start(self, tape: Any, method: str, target: Any, sources: Any) -> None: ...
    def on_gradient_end(self, tape: Any, result: Any) -> None: ...
    def on_watch(self, tape: Any, tensors: Any) -> None: ...
    def on_backward_start(self, op_type: str, inputs: list[tuple[int, Any]],
                          outputs: list[tuple[int, Any]],
                          upstream: list[tuple[int, Any] | None]) -> None: ...
    def on_backward_end(self, downstream: list[tuple[int, Any] | None]) -> None: ...
    def on_layer_start(self, layer: Any, method: str) -> None: ...
    def on_layer_end(self, layer: Any) -> None: ...
    def on_left_tensorflow(self, tensor_id: int, how: str) -> None: ...


def tensor_id(value: Any) -> int | None:
    """TensorFlow's own id of an eager tensor (never reused), or None for anything else."""
    return value._id if isinstance(value, EagerTensor) else None


def tf_variable(value: Any) -> Any:
    """The ``tf.Variable`` of a ``tf.Variable`` or of a Keras 3 variable, else None."""
    inner = getattr(value, "value", None) if not isinstance(value, Variable) else value
    return inner if isinstance(inner, Variable) else None


def variable_handle_id(value: Any) -> int | None:
    """The handle tensor id of a ``tf.Variable`` or a Keras 3 variable, else None."""
    inner = tf_variable(value)
    return inner.handle._id if inner is not None else None


@functools.cache
def function_name(op_type: str) -> str | None:
    """``'__inference_train_step_42'`` -> ``'train_step'``: the op that calls a tf.function."""
    match = re.fullmatch(r"__inference_(.+)_\d+", op_type)
    return match.group(1) if match else None


def readable(tensor: EagerTensor) -> bool:
    """Whether :func:`tensor_info` gives a value for it (not a resource, variant or string)."""
    return tensor._datatype_enum() not in _UNREADABLE


def tensor_info(tensor: EagerTensor, with_array: bool = True) -> tuple[str, tuple[int, ...], Any]:
    """``(dtype name, shape, zero-copy read-only NumPy view or None)`` of an eager tensor.

    The view shares the tensor's memory: copy what you keep. Resource, variant and string
    tensors have no view, nor any tensor when ``with_array`` is false.
    """
    enum = tensor._datatype_enum()
    wanted = with_array and enum not in _UNREADABLE
    return _DTYPE_NAMES[enum], tensor._shape_tuple(), tensor._numpy() if wanted else None


def elements(tensor: EagerTensor) -> int:
    """The number of elements of an eager tensor (no read)."""
    return tensor._num_elements()


def tensor_nbytes(tensor: EagerTensor) -> int:
    """The bytes an eager tensor's value takes, from its shape and dtype (no read)."""
    return tensor._num_elements() * _ITEMSIZES.get(tensor._datatype_enum(), 8)


def tape_is_persistent(tape: Any) -> bool:
    return bool(getattr(tape, "_persistent", False))


def tape_watches_variables(tape: Any) -> bool:
    """Whether the tape watches the trainable variables it sees (watch_accessed_variables)."""
    return bool(getattr(tape, "_watch_accessed_variables", True))


def read_unseen(handle: EagerTensor, dtype: Any) -> EagerTensor | None:
    """A variable's value now, read by no tape; None if it has none yet (being created)."""
    try:
        with record.stop_recording():
            return gen_resource_variable_ops.read_variable_op(handle, dtype)
    except Exception:
        return None


class _DtypeNames(dict):
    def __missing__(self, enum: int) -> str:
        from tensorflow.python.framework import dtypes

        self[enum] = name = dtypes.as_dtype(enum).name
        return name


_DTYPE_NAMES = _DtypeNames()
# bytes per element by DT_* enum: float16/32/64, int8/16/32/64, uint8, bool, bfloat16
_ITEMSIZES = {19: 2, 1: 4, 2: 8, 6: 1, 5: 2, 3: 4, 9: 8, 4: 1, 10: 1, 14: 2}


class _TypeTest(dict):
    """``type -> bool`` cache of "is a variable, or a list that may hold one" (no ABC checks)."""

    def __missing__(self, kind: type) -> bool:
        self[kind] = result = issubclass(kind, (Variable, list))
        return result


_may_hold_variables = _TypeTest()


def hook_state() -> dict[str, Any]:
    """Everything :func:`installed` changes, for tests that check it was all restored."""
    state = {
        "op_callbacks": tuple(context.context().op_callbacks),
        "execute.execute": execute.execute,
        "TFE_Py_FastPathExecute": pywrap_tfe.TFE_Py_FastPathExecute,
        "BaseResourceVariable.handle": Variable.__dict__["handle"],
    }
    for name in _TAPE_METHODS:
        state[f"GradientTape.{name}"] = backprop.GradientTape.__dict__[name]
    state["Registry.lookup"] = registry.Registry.__dict__["lookup"]
    for name in _CONVERSIONS:
        state[f"EagerTensor.{name}"] = _EagerTensorBase.__dict__[name]
    for owner, method in _keras_scopes():
        state[f"{owner.__name__}.{method}"] = owner.__dict__[method]
    return state


# Keras model methods that run a whole loop: their ops form one box ("sequential.fit")
TRAINING_METHODS = ("fit", "evaluate", "predict")
_TAPE_METHODS = ("_push_tape", "_pop_tape", "watch", "gradient", "jacobian", "batch_jacobian")
_EagerTensorBase = ops._EagerTensorBase
# how a learner's code takes a value out of TensorFlow: method -> how the diagnostic names it
_CONVERSIONS = {"numpy": ".numpy()", "__array__": "NumPy (np.array, np math)",
                "__float__": "float()", "__int__": "int()", "__index__": "an index",
                "__bool__": "bool() or an if", "__complex__": "complex()"}


@functools.cache
def _resource_input_positions(op_name: str) -> frozenset[int]:
    """Positions of resource-typed inputs of an op: variables passed there stay handles."""
    op_def = op_def_registry.get(op_name)
    if op_def is None:
        return frozenset()
    return frozenset(i for i, arg in enumerate(op_def.input_arg) if arg.type == DT_RESOURCE)


class _Guarded:
    """Forwards events to a sink; a bug in tapeviz must never break the user's code."""

    def __init__(self, sink: HookSink) -> None:
        self._sink = sink
        self.errors: list[Exception] = []

    def __getattr__(self, name: str) -> Callable[..., None]:
        method = getattr(self._sink, name)

        def call(*args: Any) -> None:
            try:
                method(*args)
            except Exception as error:
                self.errors.append(error)

        setattr(self, name, call)  # built once per event kind: events are on the hot path
        return call


_MISSING = object()


@contextlib.contextmanager
def _patched(patches: list[tuple[Any, str, Any]]) -> Iterator[None]:
    """Set each ``owner.attr = new``; on exit put back exactly what was there before."""
    originals = []
    try:
        for owner, attr, new in patches:
            originals.append((owner, attr, vars(owner).get(attr, _MISSING)))
            setattr(owner, attr, new)
        yield
    finally:
        for owner, attr, original in reversed(originals):
            if original is _MISSING:
                delattr(owner, attr)
            else:
                setattr(owner, attr, original)


@contextlib.contextmanager
def installed(sink: HookSink) -> Iterator[list[Exception]]:
    """Install every hook for the current thread, report to ``sink``, and restore on exit.

    Yields the list of errors raised by the sink (they are caught, so the user's code runs on).
    """
    owner = threading.get_ident()
    # the op callback, the hottest hook, calls the sink itself: one Python call less per op
    report_op, report_written = sink.on_op, sink.on_variable_written
    sink = _Guarded(sink)  # type: ignore[assignment]
    errors = sink.errors  # type: ignore[attr-defined]
    quiet = [False]  # True while tapeviz itself reads a variable
    get_ident = threading.get_ident

    def mine() -> bool:
        return get_ident() == owner and not quiet[0]

    def on_op(op_type, inputs, attrs, outputs, op_name=None, graph=None):
        # graph construction (tf.function tracing) is not eager execution
        if graph is None and not quiet[0]:
            try:
                if isinstance(op_type, bytes):
                    op_type = op_type.decode()
                report_op(op_type, _pairs(inputs), _pairs(outputs), attrs)
                if not outputs and inputs and _is_handle(inputs[0]):  # it wrote a variable
                    dtype = _attr(attrs, "dtype") or _attr(attrs, "T")
                    if dtype is not None:
                        report_written(inputs[0]._id, functools.partial(peek, inputs[0], dtype))
            except Exception as error:
                errors.append(error)
        return None

    original_fast_path = pywrap_tfe.TFE_Py_FastPathExecute

    def fast_path_execute(*args):
        # args: (context, op_name, name, *inputs, *attr name/value pairs)
        if mine():
            for value in args:
                if _may_hold_variables[type(value)]:
                    args = _read_variables(args)
                    break
        return original_fast_path(*args)

    original_handle = Variable.__dict__["handle"]
    seen: set[int] = set()

    def peek(handle: EagerTensor, dtype: Any) -> EagerTensor | None:
        """The variable's value now, read unseen by tapes and by the recording."""
        quiet[0] = True
        try:
            return read_unseen(handle, dtype)
        finally:
            quiet[0] = False

    def handle(variable):
        value = original_handle.fget(variable)
        if (mine() and isinstance(value, EagerTensor) and value._id not in seen
                and context.executing_eagerly()):  # not while tracing a tf.function
            seen.add(value._id)  # first sight: remember its value before anything changes it
            sink.on_variable(value._id, variable, peek(value, variable.dtype))
        return value

    patches: list[tuple[Any, str, Any]] = [
        (pywrap_tfe, "TFE_Py_FastPathExecute", fast_path_execute),
        (Variable, "handle", property(handle, doc=original_handle.__doc__)),
        (registry.Registry, "lookup", _observed_lookup(sink, mine)),
        *_tape_patches(sink, mine),
        *_conversion_patches(sink, mine),
    ]
    patches += [_scope_patch(owner, method, sink, mine) for owner, method in _keras_scopes()]

    with _patched(patches):
        op_callbacks.add_op_callback(on_op)
        try:
            yield sink.errors  # type: ignore[attr-defined]
        finally:
            with contextlib.suppress(KeyError, ValueError):
                op_callbacks.remove_op_callback(on_op)


def run_op(op_type: str, inputs: list[Any], attrs: tuple, num_outputs: int) -> list[Any]:
    """Run one op again, eagerly, seen by no tape (to replay recorded ops, e.g. ``--check``)."""
    with record.stop_recording():
        return execute.quick_execute(op_type, num_outputs, inputs, attrs, context.context())


def gradients_unseen(tape: Any, target: Any, sources: list[Any]) -> list[Any]:
    """``tape.gradient(target, sources)`` computed out of sight of every tape and recording."""
    with record.stop_recording():
        return tape.gradient(target, sources)


def _is_handle(tensor: Any) -> bool:
    return isinstance(tensor, EagerTensor) and tensor._datatype_enum() == DT_RESOURCE


def _attr(attrs: tuple, name: str) -> Any:
    """An attribute's value from the flat (name, value, name, value, ...) tuple of an op."""
    for i in range(0, len(attrs) - 1, 2):
        if attrs[i] == name:
            return attrs[i + 1]
    return None


def _pairs(tensors: Any) -> list[tuple[int, Any]]:
    return [(t._id, t) for t in tensors if isinstance(t, EagerTensor)]


def _observed_lookup(sink: HookSink, mine: Callable[[], bool]) -> Callable[[str], Any]:
    """Wrap gradient-function lookup so each backward step of ``tape.gradient`` is reported.

    The eager tape calls ``backprop._gradient_function`` once per forward op it differentiates,
    which looks the op's gradient function up here: wrapping what the lookup returns shows the
    forward op (its output tensors), the gradients flowing in and the gradients flowing out.
    """
    original = registry.Registry.__dict__["lookup"]
    gradients = ops._gradient_registry
    eager_tape = backprop._gradient_function.__code__
    caller = sys._getframe

    def lookup(self: Any, name: str) -> Any:
        grad_fn = original(self, name)
        # only the eager tape's lookups: graph-mode callers (tf.function, SavedModel's
        # gradient tracing) must get exactly what TensorFlow registered
        frame = caller(1)
        if (self is not gradients or frame.f_code is not eager_tape or not mine()
                or not context.executing_eagerly()):  # not a tape inside a tf.function
            return grad_fn
        # no gradient function (NotDifferentiable): what _gradient_function returns then
        nothing = None if grad_fn else [None] * frame.f_locals["num_inputs"]

        def differentiate(op: Any, *out_grads: Any) -> Any:
            # inputs or outputs are None for ops whose gradient does not need them
            sink.on_backward_start(op.type, _pairs(op.inputs or ()), _pairs(op.outputs or ()),
                                   [_pair_or_none(g) for g in out_grads])
            results = None
            try:
                results = grad_fn(op, *out_grads) if grad_fn else nothing
                return results
            finally:
                flat = results if isinstance(results, (list, tuple)) else [results]
                sink.on_backward_end([_pair_or_none(g) for g in flat])

        return differentiate

    return lookup


def _pair_or_none(value: Any) -> tuple[int, Any] | None:
    return (value._id, value) if isinstance(value, EagerTensor) else None


def _read_variables(args: tuple) -> tuple:
    """Replace variable inputs (not resource inputs) by a Python-side read the callbacks see."""
    resource_positions = _resource_input_positions(args[1])

    def read(position: int, value: Any) -> Any:
        if isinstance(value, Variable) and position not in resource_positions:
            return value.value()
        if isinstance(value, list) and position not in resource_positions:
            return [v.value() if isinstance(v, Variable) else v for v in value]
        return value

    return args[:3] + tuple(read(i, value) for i, value in enumerate(args[3:]))


def _tape_patches(sink: HookSink, mine: Callable[[], bool]) -> list[tuple[Any, str, Any]]:
    tape_class = backprop.GradientTape
    push, pop = tape_class.__dict__["_push_tape"], tape_class.__dict__["_pop_tape"]
    watch = tape_class.__dict__["watch"]
    depth = [0]  # jacobian may call gradient: only the outermost call is reported

    def eager() -> bool:  # tracing a tf.function runs tapes on symbolic tensors: not ours
        return mine() and context.executing_eagerly()

    def push_tape(tape):
        push(tape)
        if eager():
            sink.on_tape_push(tape)

    def pop_tape(tape):
        pop(tape)
        if eager():
            sink.on_tape_pop(tape)

    @functools.wraps(watch)
    def watch_tensors(tape, tensor):
        watch(tape, tensor)
        if eager():
            sink.on_watch(tape, tensor)

    def differentiation(method: str):
        original = tape_class.__dict__[method]

        @functools.wraps(original)
        def wrapper(tape, target, sources=None, *args, **kwargs):
            report = eager() and depth[0] == 0
            if report:
                sink.on_gradient_start(tape, method, target, sources)
            depth[0] += 1
            result = None
            try:
                result = original(tape, target, sources, *args, **kwargs)
                return result
            finally:
                depth[0] -= 1
                if report:
                    sink.on_gradient_end(tape, result)

        return wrapper

    patches = [(tape_class, "_push_tape", push_tape), (tape_class, "_pop_tape", pop_tape),
               (tape_class, "watch", watch_tensors)]
    patches += [(tape_class, m, differentiation(m)) for m in _TAPE_METHODS[3:]]
    return patches


def _conversion_patches(sink: HookSink, mine: Callable[[], bool]) -> list[tuple[Any, str, Any]]:
    """Report each conversion of an eager tensor to NumPy/Python, then convert as before."""

    def patch(name: str, how: str) -> tuple[Any, str, Any]:
        original = _EagerTensorBase.__dict__[name]

        @functools.wraps(original)
        def convert(tensor, *args, **kwargs):
            if mine():
                sink.on_left_tensorflow(tensor._id, how)
            return original(tensor, *args, **kwargs)

        return (_EagerTensorBase, name, convert)

    return [patch(name, how) for name, how in _CONVERSIONS.items()]


def _keras_scopes() -> list[tuple[type, str]]:
    """Keras calls whose ops form one box: layers, losses, optimizer updates (if Keras is loaded).

    Each entry is the class that defines the method, so the patch sits where it is looked up.
    """
    keras = sys.modules.get("keras")
    if keras is None:
        return []
    wanted = [(keras.Layer, "__call__"), (keras.losses.Loss, "__call__"),
              (keras.optimizers.Optimizer, "apply"),
              *((keras.Model, method) for method in TRAINING_METHODS)]
    return [(next(k for k in cls.__mro__ if method in k.__dict__), method)
            for cls, method in wanted]


def _scope_patch(owner: type, method: str, sink: HookSink, mine: Callable[[], bool]):
    original = owner.__dict__[method]

    @functools.wraps(original)
    def call(obj, *args, **kwargs):
        if not mine():
            return original(obj, *args, **kwargs)
        sink.on_layer_start(obj, method)
        try:
            return original(obj, *args, **kwargs)
        finally:
            sink.on_layer_end(obj)

    return (owner, method, call)


def optimizer_slots(optimizer: Any, variable: Any) -> dict[str, Any]:
    """A Keras 3 optimizer's own state variables for one model variable, by formula name.

    SGD with momentum: ``{"velocity": ...}``; Adam (and its subclasses): ``{"m": ..., "v": ...}``;
    any other optimizer: ``{}``. Keras keeps these in lists indexed by the private
    ``_get_variable_index``, and Adam's lists (``_momentums``, ``_velocities``) are private too.
    """
    keras = sys.modules.get("keras")
    if keras is None:
        return {}
    if isinstance(optimizer, keras.optimizers.Adam):
        lists = {"m": "_momentums", "v": "_velocities"}
    elif isinstance(optimizer, keras.optimizers.SGD):
        lists = {"velocity": "momentums"}  # empty when momentum is 0
    else:
        return {}
    index = optimizer._get_variable_index(variable)
    return {name: getattr(optimizer, attr)[index] for name, attr in lists.items()
            if getattr(optimizer, attr, None)}
