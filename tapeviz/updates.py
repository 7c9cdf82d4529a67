"""What one SGD step did to each variable, as it was applied, and the rule that did it.

``SGDEngine`` fills these in from the variables themselves (read before and after the update)
and, for Keras optimizers, from the optimizer's own state variables (momentum's velocity,
Adam's ``m`` and ``v``). Nothing here recomputes an update: ``change`` is ``after - before``.

>>> update = VariableUpdate.of(np.array([1.0, 2.0]), np.array([0.5, 2.5]), np.array([5.0, -5.0]))
>>> update.change.full.tolist(), update.gradient.norm == float(np.hypot(5, 5))
([-0.5, 0.5], True)
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tapeviz._tfhooks import optimizer_slots

SMALL = 10  # arrays with at most this many numbers are kept in full, bigger ones summarised


@dataclass(frozen=True)
class Numbers:
    """An array's shape, norm, min, mean and max, and the array itself when it is small.

    A small array is kept in ``full`` and its summary computed when asked for (a step's
    bookkeeping stays cheap); a big one keeps only the summary, computed at once.
    """

    shape: tuple[int, ...]
    full: np.ndarray | None = None  # a copy, when it has at most SMALL numbers
    summary: tuple[float, float, float, float] | None = None  # norm, min, mean, max (big ones)

    @classmethod
    def of(cls, array: Any) -> Numbers:
        array = np.asarray(array)
        if array.size <= SMALL:
            return cls(array.shape, full=array.copy())
        return cls(array.shape, summary=_summary(array))

    @functools.cached_property
    def _stats(self) -> tuple[float, float, float, float]:
        return self.summary if self.summary is not None else _summary(self.full)

    @property
    def norm(self) -> float:
        return self._stats[0]

    @property
    def min(self) -> float:
        return self._stats[1]

    @property
    def mean(self) -> float:
        return self._stats[2]

    @property
    def max(self) -> float:
        return self._stats[3]


def _summary(array: np.ndarray) -> tuple[float, float, float, float]:
    if array.size == 0:
        return (0.0, np.nan, np.nan, np.nan)
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging run is honestly inf
        stats = (np.linalg.norm(array), array.min(), array.mean(), array.max())
    return tuple(map(float, stats))


@dataclass(frozen=True)
class VariableUpdate:
    """One variable in one step: before, gradient, after, and ``change = after - before``."""

    before: Numbers
    after: Numbers
    change: Numbers  # the update as applied
    gradient: Numbers | None = None  # None when your step function owns the update
    state: dict[str, Numbers] = field(default_factory=dict)  # optimizer's own, after the step

    @classmethod
    def of(cls, before: np.ndarray, after: np.ndarray, gradient: np.ndarray | None = None,
           state: dict[str, np.ndarray] | None = None) -> VariableUpdate:
        with np.errstate(over="ignore", invalid="ignore"):
            change = np.subtract(after, before)
        return cls(Numbers.of(before), Numbers.of(after), Numbers.of(change),
                   None if gradient is None else Numbers.of(gradient),
                   {name: Numbers.of(value) for name, value in (state or {}).items()})


@dataclass(frozen=True)
class UpdateRule:
    """How the step turned gradients into the change: a name, a formula and its numbers.

    ``formula`` is empty when tapeviz does not know the optimizer's rule (then the change is
    still the one applied). ``values`` are the formula's constants at this step.
    """

    name: str
    formula: str = ""
    values: dict[str, float] = field(default_factory=dict)


SGD_FORMULA = "w ← w − lr·g"
STEP_FN_RULE = UpdateRule("your step function")


def sgd_rule(learning_rate: float) -> UpdateRule:
    return UpdateRule("SGD", SGD_FORMULA, {"lr": learning_rate})


def keras_rule(optimizer: Any) -> UpdateRule:
    """The rule of a Keras optimizer, read after the step it just applied."""
    name = type(optimizer).__name__
    lr = float(optimizer.learning_rate)
    keras = sys.modules["keras"]
    if not _plain(optimizer):
        return UpdateRule(f"Keras {name} (with clipping, weight decay or averaging)")
    if type(optimizer) is keras.optimizers.SGD:
        momentum = float(optimizer.momentum)
        if momentum == 0:
            return sgd_rule(lr)
        last = "w ← w + momentum·velocity − lr·g" if optimizer.nesterov else "w ← w + velocity"
        return UpdateRule("SGD with Nesterov momentum" if optimizer.nesterov else
                          "SGD with momentum", f"velocity ← momentum·velocity − lr·g;  {last}",
                          {"lr": lr, "momentum": momentum})
    if type(optimizer) is keras.optimizers.Adam and not optimizer.amsgrad:
        t = int(optimizer.iterations)  # the step just taken: Keras counts from 1 in the formula
        beta_1, beta_2 = float(optimizer.beta_1), float(optimizer.beta_2)
        alpha = lr * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
        return UpdateRule(
            "Adam",
            "m ← β₁·m + (1 − β₁)·g;  v ← β₂·v + (1 − β₂)·g²;  w ← w − α·m / (√v + ε),  "
            "α = lr·√(1 − β₂ᵗ) / (1 − β₁ᵗ)",
            {"lr": lr, "β₁": beta_1, "β₂": beta_2, "ε": float(optimizer.epsilon), "t": t,
             "α": float(alpha)},
        )
    return UpdateRule(f"Keras {name}")


def keras_state(optimizer: Any, variables: dict[str, Any]) -> dict[str, dict[str, np.ndarray]]:
    """The optimizer's own variables (velocity; Adam's m and v) for each model variable."""
    return {name: {slot: np.array(value.numpy())
                   for slot, value in optimizer_slots(optimizer, var).items()}
            for name, var in variables.items()}


def _plain(optimizer: Any) -> bool:
    """No gradient clipping, weight decay, EMA, loss scaling or accumulation on top."""
    return (not optimizer.weight_decay and optimizer.clipnorm is None
            and optimizer.clipvalue is None and optimizer.global_clipnorm is None
            and not optimizer.use_ema and not getattr(optimizer, "loss_scale_factor", None)
            and not getattr(optimizer, "gradient_accumulation_steps", None))
