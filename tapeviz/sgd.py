"""Headless mini-batch SGD: one batch per ``step()``, with a ``history`` you can plot.

Say how a batch updates the weights in one of three ways:

- ``SGDEngine.from_variables``: ``tf.Variable``s, a ``loss_fn(batch_x, batch_y)`` and a learning
  rate. The update is exactly the book's ``var.assign_sub(grad * learning_rate)``.
- ``SGDEngine.from_keras``: a Keras model, loss, optimizer and metrics. The update is
  ``optimizer.apply_gradients(zip(grads, model.trainable_variables))``.
- ``SGDEngine.from_step_fn``: your own training step ``(batch_x, batch_y) -> loss`` that updates
  the weights itself.

Each step's ``StepRecord`` holds the update as it happened (``tapeviz.updates``): per variable
the value before, the gradient, the value after and ``after - before``, read from the variables
themselves, plus the optimizer's own state (momentum's velocity, Adam's ``m`` and ``v``), and
the rule with its formula and numbers.

How batches are drawn (a hand-written loop doing the same gets bit-identical weights): one
``numpy.random.default_rng(seed)`` is made at construction and at ``reset()``. Each epoch with
``shuffle`` on takes ``order = rng.permutation(n)``; with it off, ``order = arange(n)`` and
nothing is drawn. Batches are consecutive slices ``order[i:i + batch_size]``, so the last one
may be smaller. ``shuffle`` changes apply from the next epoch, ``batch_size`` changes from the
next batch.

>>> import tensorflow as tf
>>> x, y = two_blobs(n_per_class=50)
>>> W, b = tf.Variable(tf.zeros((2, 1))), tf.Variable(tf.zeros((1,)))
>>> def square_loss(bx, by):
...     return tf.reduce_mean(tf.square(by - (tf.matmul(bx, W) + b)))
>>> engine = SGDEngine.from_variables(x, y, {"W": W, "b": b}, square_loss, 0.1, batch_size=32)
>>> engine.step().batch, engine.step().batch
(0, 1)
>>> [r.batch for r in engine.run(epochs=1)]  # finishes epoch 0: 100 points = 4 batches
[2, 3]
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import tensorflow as tf

from tapeviz.updates import (
    STEP_FN_RULE,
    UpdateRule,
    VariableUpdate,
    keras_rule,
    keras_state,
    sgd_rule,
)

Variables = Mapping[str, Any] | Sequence[Any]


@dataclass(frozen=True)
class StepRecord:
    """What one step did. ``step`` counts from 1; ``epoch`` and ``batch`` from 0."""

    step: int
    epoch: int
    batch: int
    batch_size: int
    loss: float
    learning_rate: float | None  # None when your step function owns the update
    metrics: dict[str, float] = field(default_factory=dict)
    # Per variable: value before, gradient, value after and after - before, as applied.
    updates: dict[str, VariableUpdate] = field(default_factory=dict)
    rule: UpdateRule | None = None  # how gradients became the change (SGD, momentum, Adam...)
    ends_epoch: bool = False

    @property
    def grad_norms(self) -> dict[str, float] | None:
        """Norm of each variable's gradient; None when your step function took the step."""
        if any(update.gradient is None for update in self.updates.values()):
            return None
        return {name: update.gradient.norm for name, update in self.updates.items()}

    @property
    def change_norms(self) -> dict[str, float]:
        """``|w_after - w_before|`` of each variable."""
        return {name: update.change.norm for name, update in self.updates.items()}


class SetupError(ValueError):
    """The data, the variables or your function don't fit together; no step was taken."""


class NonFiniteLossError(FloatingPointError):
    """The loss became nan or inf. The step was taken and is in the history (as ``record``)."""

    def __init__(self, record: StepRecord):
        self.record = record
        super().__init__(
            f"the loss became {record.loss} at step {record.step} "
            f"(epoch {record.epoch}, batch {record.batch}); the weights are probably "
            "nan/inf now. Lower the learning rate and reset()."
        )


def two_blobs(n_per_class: int = 1000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The book's toy data (DLwP ch. 3): two 2-D Gaussian classes, targets 0 then 1.

    >>> x, y = two_blobs(n_per_class=3)
    >>> x.shape, x.dtype, y.ravel().tolist()
    ((6, 2), dtype('float32'), [0.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    """
    rng = np.random.default_rng(seed)
    cov = [[1, 0.5], [0.5, 1]]
    negative = rng.multivariate_normal(mean=[0, 3], cov=cov, size=n_per_class)
    positive = rng.multivariate_normal(mean=[3, 0], cov=cov, size=n_per_class)
    x = np.vstack((negative, positive)).astype("float32")
    y = np.vstack((np.zeros((n_per_class, 1)), np.ones((n_per_class, 1)))).astype("float32")
    return x, y


def epoch_losses(history: Sequence[StepRecord]) -> list[tuple[int, float]]:
    """``(step that ended it, mean loss)`` for each finished epoch, weighted by batch size.

    >>> rec = [StepRecord(1, 0, 0, 3, 2.0, 0.1), StepRecord(2, 0, 1, 1, 6.0, 0.1, ends_epoch=True)]
    >>> epoch_losses(rec)
    [(2, 3.0)]
    """
    means, total, count = [], 0.0, 0
    for record in history:
        total += record.loss * record.batch_size
        count += record.batch_size
        if record.ends_epoch:
            means.append((record.step, total / count))
            total, count = 0.0, 0
    return means


@dataclass
class _Pending:
    """One batch's work, computed but not yet applied (so an interrupt can't half-apply it)."""

    loss: Any
    grads: list | None = None
    apply: Callable[[], None] = lambda: None


class _Rule(Protocol):
    """How a batch becomes an update: one implementation per construction mode."""

    mode: str  # "variables", "keras" or "step_fn"
    variables: dict[str, Any]  # shown and normed, by name
    learning_rate: float | None
    can_set_learning_rate: bool

    def state(self) -> list: ...  # every variable reset() must restore
    def check(self, bx: tf.Tensor, by: tf.Tensor) -> None: ...  # raise SetupError, change nothing
    def compute(self, bx: tf.Tensor, by: tf.Tensor) -> _Pending: ...
    def metrics(self) -> dict[str, float]: ...
    def new_epoch(self) -> None: ...
    def applied(self) -> tuple[UpdateRule, dict[str, dict[str, np.ndarray]]]: ...  # after a step


class SGDEngine:
    """Mini-batch SGD one batch at a time: ``step()``, ``run(epochs)``, ``reset()``, ``history``.

    Build it with ``from_variables``, ``from_keras`` or ``from_step_fn``; they try your
    function on a batch first, so shape and dtype mistakes show up before any step.
    """

    def __init__(
        self, x: Any, y: Any, rule: _Rule, *, batch_size: int = 32, shuffle: bool = True,
        seed: int = 0, model: Callable[[Any], Any] | None = None,
    ):
        """Use the ``from_*`` constructors; ``rule`` is their internal choice of update."""
        self.x, self.y = np.asarray(x), np.asarray(y)
        if self.x.ndim == 0 or len(self.x) == 0 or len(self.x) != len(self.y):
            raise SetupError(
                f"x has shape {self.x.shape} and y has shape {self.y.shape}: they need the same "
                "number of rows (one example per row), and at least one."
            )
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        # inputs -> predictions: the Keras model, or the ``model`` you passed; views call it
        self.model = model if model is not None else getattr(rule, "model", None)
        self._rule = rule
        rule.check(*self._tensors(np.arange(min(self.batch_size, len(self.x)))))
        self.variables: dict[str, Any] = rule.variables
        self._initial = [np.array(var.numpy()) for var in rule.state()]
        self.reset()

    @classmethod
    def from_variables(
        cls, x: Any, y: Any, variables: Variables,
        loss_fn: Callable[[tf.Tensor, tf.Tensor], tf.Tensor], learning_rate: float, *,
        batch_size: int = 32, shuffle: bool = True, seed: int = 0,
        model: Callable[[Any], Any] | None = None,
    ) -> SGDEngine:
        """Plain SGD on ``tf.Variable``s: ``var.assign_sub(grad * learning_rate)`` per batch.

        ``variables`` is a dict ``{"W": W, "b": b}`` (names show in the history) or a list.
        ``loss_fn(batch_x, batch_y)`` must return one number: the mean loss of the batch.
        ``model(inputs) -> predictions``, if you pass it, is what the stepper evaluates to
        draw the decision boundary (e.g. ``lambda x: tf.matmul(x, W) + b``).
        """
        rule = _VariablesRule(_named(variables), loss_fn, learning_rate)
        return cls(x, y, rule, batch_size=batch_size, shuffle=shuffle, seed=seed, model=model)

    @classmethod
    def from_keras(
        cls, x: Any, y: Any, model: Any, loss: Callable, optimizer: Any,
        metrics: Sequence[Any] = (), *, batch_size: int = 32, shuffle: bool = True, seed: int = 0,
    ) -> SGDEngine:
        """A Keras model trained like a custom training loop (no ``fit``).

        ``loss`` is a Keras loss object such as ``keras.losses.MeanSquaredError()``;
        ``optimizer`` e.g. ``keras.optimizers.SGD(0.1)``; ``metrics`` are Keras metric
        objects, reset at each epoch start, so history holds epoch-to-date values.
        As in a minimal custom loop, ``model.losses`` (regularization) are not added.
        """
        rule = _KerasRule(model, loss, optimizer, list(metrics))
        return cls(x, y, rule, batch_size=batch_size, shuffle=shuffle, seed=seed)

    @classmethod
    def from_step_fn(
        cls, x: Any, y: Any, step_fn: Callable[[tf.Tensor, tf.Tensor], Any],
        variables: Variables, *, batch_size: int = 32, shuffle: bool = True, seed: int = 0,
        model: Callable[[Any], Any] | None = None,
    ) -> SGDEngine:
        """Your own training step ``step_fn(batch_x, batch_y) -> loss``, which updates weights.

        ``variables`` are the ones it updates: ``reset()`` restores them and the history
        records how far each moved per step (``change_norms``), as only your function sees
        the gradients. The engine calls ``step_fn`` once per step and never to test it: if
        the first call fails, the variables are put back and you get a ``SetupError``.
        Interrupting inside ``step_fn`` can leave its own update half-done; the engine's
        bookkeeping stays whole. ``model`` is as in ``from_variables``.
        """
        rule = _StepFnRule(step_fn, _named(variables))
        return cls(x, y, rule, batch_size=batch_size, shuffle=shuffle, seed=seed, model=model)

    # -- settings ---------------------------------------------------------------------------

    @property
    def batch_size(self) -> int:
        return self._batch_size

    @batch_size.setter
    def batch_size(self, value: int) -> None:
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise ValueError(f"batch_size must be a whole number >= 1, not {value!r}")
        self._batch_size = int(value)

    @property
    def learning_rate(self) -> float | None:
        """The learning rate the next step uses; None in step-function mode."""
        return self._rule.learning_rate

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        if not self.can_set_learning_rate:
            raise ValueError(
                "this engine's learning rate can't be changed: your step function (or the "
                "optimizer's learning-rate schedule) decides it."
            )
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"learning_rate must be a positive number, not {value!r}")
        self._rule.learning_rate = float(value)

    @property
    def can_set_learning_rate(self) -> bool:
        return self._rule.can_set_learning_rate

    @property
    def mode(self) -> str:
        """``"variables"``, ``"keras"`` or ``"step_fn"``: which constructor built this engine."""
        return self._rule.mode

    @property
    def metric_names(self) -> list[str]:
        return list(self._rule.metrics())

    # -- where we are -----------------------------------------------------------------------

    @property
    def step_count(self) -> int:
        return len(self.history)

    @property
    def progress(self) -> float:
        """Fraction of the current epoch's examples already used, in [0, 1)."""
        return self._cursor / len(self.x)

    @property
    def batch_index(self) -> int:
        """Index, within the current epoch, of the batch the next step uses."""
        return self._batch_index

    @property
    def batches_in_epoch(self) -> int:
        """Batches in the current epoch at the current batch size."""
        return self._batch_index + math.ceil((len(self.x) - self._cursor) / self.batch_size)

    def weights(self) -> dict[str, np.ndarray]:
        """A copy of every variable's current value, by name."""
        # convert_to_tensor: one read, about 30% cheaper than var.numpy() (both run each step)
        return {name: np.array(tf.convert_to_tensor(var)) for name, var in self.variables.items()}

    # -- stepping ---------------------------------------------------------------------------

    def step(self) -> StepRecord:
        """Train on the next batch and return its record.

        A step is all or nothing: Ctrl-C (or a kernel interrupt) during the update is held
        until the step is recorded. Raises ``NonFiniteLossError`` after a nan/inf loss.
        """
        if self._order is None:
            n = len(self.x)
            self._order = self._rng.permutation(n) if self.shuffle else np.arange(n)
            self._rule.new_epoch()
        indices = self._order[self._cursor : self._cursor + self.batch_size]
        learning_rate = self.learning_rate
        before = self.weights()
        pending = self._rule.compute(*self._tensors(indices))
        with _interrupts_deferred():
            pending.apply()
            record = self._commit(indices, pending, learning_rate, before)
        if not math.isfinite(record.loss):
            raise NonFiniteLossError(record)
        return record

    def run(self, epochs: int = 1) -> list[StepRecord]:
        """Step until ``epochs`` epochs have ended (the current one counts, if started)."""
        target = self.epoch + epochs
        records = []
        while self.epoch < target:
            records.append(self.step())
        return records

    def reset(self) -> None:
        """Back to the initial weights, batch order and an empty history.

        The settings you changed (learning rate, batch size, shuffle) are kept.
        """
        learning_rate = self.learning_rate
        for var, value in zip(self._rule.state(), self._initial, strict=True):
            var.assign(value)
        if self.can_set_learning_rate:
            self.learning_rate = learning_rate  # the optimizer's state held the initial one
        self._rule.new_epoch()
        self._rng = np.random.default_rng(self.seed)
        self._order: np.ndarray | None = None
        self._cursor = 0
        self._batch_index = 0
        self.epoch = 0
        self.history: list[StepRecord] = []
        self.last_batch: np.ndarray | None = None  # indices of the last step's examples
        self.last_grads: dict[str, tf.Tensor] | None = None

    def _tensors(self, indices: np.ndarray) -> tuple[tf.Tensor, tf.Tensor]:
        return tf.convert_to_tensor(self.x[indices]), tf.convert_to_tensor(self.y[indices])

    def _commit(self, indices: np.ndarray, pending: _Pending, lr: float | None,
                before: dict[str, np.ndarray]) -> StepRecord:
        names = list(self.variables)
        self.last_grads = None
        if pending.grads is not None:
            self.last_grads = dict(zip(names, pending.grads, strict=True))
        rule, state = self._rule.applied()
        updates = {
            name: VariableUpdate.of(before[name], after, _array(self.last_grads, name),
                                    state.get(name))
            for name, after in self.weights().items()
        }
        self._cursor += len(indices)
        ends_epoch = self._cursor >= len(self.x)
        record = StepRecord(
            step=len(self.history) + 1, epoch=self.epoch, batch=self._batch_index,
            batch_size=len(indices), loss=float(pending.loss), learning_rate=lr,
            metrics=self._rule.metrics(), updates=updates, rule=rule, ends_epoch=ends_epoch,
        )
        self.history.append(record)
        self.last_batch = indices
        if ends_epoch:
            self.epoch += 1
            self._order, self._cursor, self._batch_index = None, 0, 0
        else:
            self._batch_index += 1
        return record


class _VariablesRule:
    mode = "variables"
    can_set_learning_rate = True

    def __init__(self, variables: dict[str, Any], loss_fn: Callable, learning_rate: float):
        for name, var in variables.items():
            if not hasattr(var, "assign_sub"):
                raise SetupError(
                    f"variable {name!r} is a {type(var).__name__}, which SGD can't update. "
                    "Wrap its initial value: tf.Variable(...)."
                )
        self.variables, self.loss_fn = variables, loss_fn
        self.learning_rate = float(learning_rate)

    def state(self) -> list:
        return list(self.variables.values())

    def check(self, bx: tf.Tensor, by: tf.Tensor) -> None:
        _check_float_dtypes(bx, by, self.variables)
        try:
            loss, grads = self._loss_and_grads(bx, by)
        except Exception as err:
            raise SetupError(_failed("loss_fn", bx, by, err)) from err
        _check_loss(loss, "loss_fn")
        missing = [name for name, grad in zip(self.variables, grads, strict=True) if grad is None]
        if missing:
            raise SetupError(
                f"the loss does not depend on {', '.join(missing)} (no gradient). Use every "
                "variable in loss_fn with TensorFlow ops (numpy breaks the tape), or leave it "
                "out of `variables`."
            )

    def compute(self, bx: tf.Tensor, by: tf.Tensor) -> _Pending:
        loss, grads = self._loss_and_grads(bx, by)
        lr = self.learning_rate

        def apply() -> None:
            for var, grad in zip(self.variables.values(), grads, strict=True):
                var.assign_sub(grad * lr)

        return _Pending(loss, grads, apply)

    def _loss_and_grads(self, bx: tf.Tensor, by: tf.Tensor) -> tuple[tf.Tensor, list]:
        with tf.GradientTape() as tape:
            loss = self.loss_fn(bx, by)
        return loss, tape.gradient(loss, list(self.variables.values()))

    def metrics(self) -> dict[str, float]:
        return {}

    def new_epoch(self) -> None:
        pass

    def applied(self) -> tuple[UpdateRule, dict]:
        return sgd_rule(self.learning_rate), {}


class _KerasRule:
    mode = "keras"

    def __init__(self, model: Any, loss: Callable, optimizer: Any, metrics: list):
        import keras  # only this mode needs it

        if not isinstance(optimizer, keras.optimizers.Optimizer):
            raise SetupError(
                f"optimizer is a {type(optimizer).__name__}; pass a Keras optimizer such as "
                "keras.optimizers.SGD(learning_rate=0.1)."
            )
        for metric in metrics:
            if not isinstance(metric, keras.metrics.Metric):
                raise SetupError(
                    f"metric {metric!r} is not a Keras metric object; pass e.g. "
                    "keras.metrics.BinaryAccuracy() (strings are not accepted here)."
                )
        schedule = keras.optimizers.schedules.LearningRateSchedule
        self.can_set_learning_rate = not isinstance(getattr(optimizer, "_learning_rate", None),
                                                    schedule)
        self.model, self.loss, self.optimizer, self._metrics = model, loss, optimizer, metrics

    @property
    def variables(self) -> dict[str, Any]:
        return _named(self.model.trainable_variables)

    @property
    def learning_rate(self) -> float:
        return float(self.optimizer.learning_rate)

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        self.optimizer.learning_rate = value

    def state(self) -> list:
        return [*self.model.variables, *self.optimizer.variables]

    def check(self, bx: tf.Tensor, by: tf.Tensor) -> None:
        try:  # training=False: no dropout draws or batch-norm updates before step 1
            loss = self.loss(by, self.model(bx, training=False))
        except Exception as err:
            raise SetupError(_failed("the model or loss", bx, by, err)) from err
        _check_loss(loss, "the loss")
        if not self.model.trainable_variables:
            raise SetupError("the model has no trainable variables, so there is nothing to train.")
        if not self.optimizer.built:  # so reset() can restore its (empty) slots
            self.optimizer.build(self.model.trainable_variables)

    def compute(self, bx: tf.Tensor, by: tf.Tensor) -> _Pending:
        trainable = self.model.trainable_variables
        with tf.GradientTape() as tape:
            predictions = self.model(bx, training=True)
            loss = self.loss(by, predictions)
        grads = tape.gradient(loss, trainable)

        def apply() -> None:
            self.optimizer.apply_gradients(zip(grads, trainable, strict=True))
            for metric in self._metrics:
                metric.update_state(by, predictions)

        return _Pending(loss, grads, apply)

    def metrics(self) -> dict[str, float]:
        return {metric.name: float(metric.result()) for metric in self._metrics}

    def new_epoch(self) -> None:
        for metric in self._metrics:
            metric.reset_state()

    def applied(self) -> tuple[UpdateRule, dict[str, dict[str, np.ndarray]]]:
        return keras_rule(self.optimizer), keras_state(self.optimizer, self.variables)


class _StepFnRule:
    mode = "step_fn"
    learning_rate = None
    can_set_learning_rate = False

    def __init__(self, step_fn: Callable, variables: dict[str, Any]):
        self.step_fn, self.variables = step_fn, variables
        self._checked = False  # the first call doubles as the check: see from_step_fn

    def state(self) -> list:
        return list(self.variables.values())

    def check(self, bx: tf.Tensor, by: tf.Tensor) -> None:
        _check_float_dtypes(bx, by, self.variables)

    def compute(self, bx: tf.Tensor, by: tf.Tensor) -> _Pending:
        before = [np.array(var.numpy()) for var in self.variables.values()]
        try:
            loss = self.step_fn(bx, by)
            if not self._checked:
                _check_loss(loss, "step_fn")
        except Exception as err:
            if self._checked:
                raise
            for var, value in zip(self.variables.values(), before, strict=True):
                var.assign(value)  # so the failed first step never happened
            if isinstance(err, SetupError):
                raise
            raise SetupError(_failed("step_fn", bx, by, err)) from err
        self._checked = True
        return _Pending(loss)

    def metrics(self) -> dict[str, float]:
        return {}

    def new_epoch(self) -> None:
        pass

    def applied(self) -> tuple[UpdateRule, dict]:
        return STEP_FN_RULE, {}


def _named(variables: Variables) -> dict[str, Any]:
    """Names for variables: dict keys, else Keras paths or TF names (made unique)."""
    if isinstance(variables, Mapping):
        return dict(variables)
    names = [getattr(var, "path", None) or var.name.split(":")[0] for var in variables]
    return {
        name if names.count(name) == 1 else f"{name}[{i}]": var
        for i, (name, var) in enumerate(zip(names, variables, strict=True))
    }


def _array(tensors: dict[str, Any] | None, name: str) -> np.ndarray | None:
    """One gradient as numpy (sparse ones made dense), or None when there are none."""
    if tensors is None:
        return None
    grad = tensors[name]
    return (grad if hasattr(grad, "numpy") else tf.convert_to_tensor(grad)).numpy()


def _describe(bx: tf.Tensor, by: tf.Tensor) -> str:
    return (f"x {tuple(bx.shape)} {bx.dtype.name}, y {tuple(by.shape)} {by.dtype.name}")


def _failed(what: str, bx: tf.Tensor, by: tf.Tensor, err: Exception) -> str:
    return (
        f"{what} failed on a trial batch ({_describe(bx, by)}) before any step was "
        f"taken:\n  {type(err).__name__}: {err}\nCheck the shapes and dtypes it expects."
    )


def _check_loss(loss: Any, what: str) -> None:
    value = np.asarray(loss)
    if value.ndim != 0:
        raise SetupError(
            f"{what} returned shape {value.shape}, but must return one number: the batch's "
            "mean loss (e.g. tf.reduce_mean(...))."
        )
    if value.dtype.kind != "f":
        raise SetupError(
            f"{what} returned {loss!r}, not a float loss. Return the batch's mean loss "
            "(e.g. tf.reduce_mean(...))."
        )


def _check_float_dtypes(bx: tf.Tensor, by: tf.Tensor, variables: dict[str, Any]) -> None:
    """TF won't mix float32 and float64; say so before it fails in the middle of a formula."""
    floats = {tf.as_dtype(var.dtype) for var in variables.values()} & {tf.float16, tf.float32,
                                                                        tf.float64}
    if len(floats) != 1:
        return
    wanted = floats.pop()
    for name, batch in (("x", bx), ("y", by)):
        if batch.dtype.is_floating and batch.dtype != wanted:
            raise SetupError(
                f"{name} is {batch.dtype.name} but the variables are {wanted.name}, and "
                f"TensorFlow won't mix them. Convert it: {name} = {name}.astype('{wanted.name}')."
            )


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Hold SIGINT (Ctrl-C, kernel interrupt) until the block ends, then deliver it."""
    handler = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or handler is None:
        yield  # only the main thread gets SIGINT; None: a handler we couldn't put back
        return
    caught = []
    signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, handler)
        if caught:
            signal.raise_signal(signal.SIGINT)
