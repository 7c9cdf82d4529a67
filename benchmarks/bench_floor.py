"""The floor of recording: what each layer of the recorder's hot path costs, step by step.

bench_record.py times whole cells, minutes apart on a machine whose speed drifts by tens of
percent; here each variant runs one step of a workload (one training step of the book's
chapter 2 loop, or 200 scalar ops) in turn, so neighbouring steps see the same machine, and
the ratio to the plain step next to it is taken per step. Each variant's sink is new every
20 steps (one cell, as in bench_record's workload), and the order of the variants rotates.
The variants add one layer each:

- plain: no hooks;
- TF callback: an op callback that does nothing (TensorFlow calling back into Python);
- hooks only: tapeviz's hooks, sink doing nothing (bench_record's "hooks only");
- log of ids: each op and backward step appended to a log as ids (no tensors kept);
- + references: the tensors kept by reference too (what reading values at the end needs);
- + scopes: the user's function calls found too (the stack walk);
- recorder: the Recorder's hot path (bench_record's "hot path": also the byte budget, the
  gradient and backward bookkeeping and read-back of written variables).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_floor.py [--workload ch2|scalar] [--steps N]
"""

import argparse
import contextlib
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from bench_record import _NothingSink, load_as_cell  # noqa: E402
from tensorflow.python.framework import op_callbacks  # noqa: E402 - the bare callback only

from tapeviz import _tfhooks  # noqa: E402
from tapeviz.recorder import Recorder  # noqa: E402
from tapeviz.recorder.scopes import FunctionScopes  # noqa: E402

CELL = 20  # steps per sink: one cell


class IdsLog(_NothingSink):
    """Appends each op and backward step as ids only."""

    def __init__(self) -> None:
        self.log: list[tuple] = []

    def on_op(self, op_type, inputs, outputs, attrs=()):
        self.log.append((op_type, [tid for tid, _ in inputs], [tid for tid, _ in outputs]))

    def on_backward_start(self, op_type, inputs, outputs, upstream):
        self.log.append((op_type, [tid for tid, _ in inputs], [tid for tid, _ in outputs]))


class References(IdsLog):
    """Appends the (id, tensor) pairs themselves: the tensors stay alive until the end."""

    def on_op(self, op_type, inputs, outputs, attrs=()):
        self.log.append((op_type, inputs, outputs))

    def on_backward_start(self, op_type, inputs, outputs, upstream):
        self.log.append((op_type, inputs, outputs, upstream))


class WithScopes(References):
    """References, and each forward op's user function calls and line (the Recorder's walk;
    like the Recorder, none for the ops ``tape.gradient`` runs)."""

    def __init__(self) -> None:
        super().__init__()
        self.scopes = FunctionScopes()
        self.scopes.stop_frame = sys._getframe(1)
        self.gradients = 0

    def on_op(self, op_type, inputs, outputs, attrs=()):
        where = self.scopes.current() if not self.gradients else ((), None)
        self.log.append((op_type, inputs, outputs, where))

    def on_gradient_start(self, *args):
        self.gradients += 1

    def on_gradient_end(self, *args):
        self.gradients -= 1


class _Bare:
    """Marks the variant with a do-nothing TensorFlow op callback instead of tapeviz's hooks."""


@contextlib.contextmanager
def _bare_callback():
    def callback(*args, **kwargs):
        return None

    op_callbacks.add_op_callback(callback)
    try:
        yield
    finally:
        op_callbacks.remove_op_callback(callback)


VARIANTS = {"plain": None, "TF callback": _Bare, "hooks only": _NothingSink,
            "log of ids": IdsLog, "+ references": References, "+ scopes": WithScopes,
            "recorder": Recorder}


def _workload(name: str):
    """A function running step ``i`` of the workload, as a learner's cell would."""
    cell = load_as_cell(Path(__file__).with_name("workloads.py"))
    if name == "scalar":
        return lambda i: cell["scalar_ops"](100), 200
    tf, rng = cell["tf"], np.random.default_rng(0)
    images = rng.uniform(size=(CELL * 128, 28 * 28)).astype("float32")
    labels = rng.integers(0, 10, size=CELL * 128)
    model = cell["NaiveSequential"]([cell["NaiveDense"](28 * 28, 512, tf.nn.relu, rng),
                                     cell["NaiveDense"](512, 10, tf.nn.softmax, rng)])
    step = cell["_one_training_step"]

    def run(i: int) -> None:
        batch = slice(i % CELL * 128, (i % CELL + 1) * 128)
        step(model, images[batch], labels[batch])

    return run, 60


def measure(run, steps: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    run(0)  # warm up kernels and caches
    sinks: dict = {}
    for i in range(steps):
        if i % CELL == 0:
            sinks = {name: make() if make not in (None, _Bare) else make
                     for name, make in VARIANTS.items()}
        names = list(sinks)
        for name in names[i % len(names):] + names[:i % len(names)]:  # each goes first in turn
            sink = sinks[name]
            if sink is None:
                hooks = contextlib.nullcontext()
            else:
                hooks = _bare_callback() if sink is _Bare else _tfhooks.installed(sink)
            with hooks:
                start = time.perf_counter()
                run(i)
                times[name].append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workload", choices=("ch2", "scalar"), default="ch2")
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    run, ops = _workload(args.workload)
    times = measure(run, args.steps)
    plain = times["plain"]
    print(f"{args.workload}: {args.steps} steps of ~{ops} ops, each variant in turn "
          f"(plain step median {statistics.median(plain) * 1e3:.1f} ms)")
    print(f"{'variant':<15}{'ratio to plain':>15}{'quartiles':>16}{'per op':>11}")
    for name, measured in times.items():
        ratios = sorted(t / p for t, p in zip(measured, plain, strict=True))
        extra = (statistics.median(measured) - statistics.median(plain)) / ops * 1e6
        print(f"{name:<15}{statistics.median(ratios):>14.3f}x"
              f"{ratios[len(ratios) // 4]:>8.3f}-{ratios[3 * len(ratios) // 4]:.3f}"
              f"{extra:>+9.1f} us")
    print("ratio: median of per-step ratios to the plain step of the same round; per op: the "
          "median step's extra time over plain, per op of the step")


if __name__ == "__main__":
    main()
