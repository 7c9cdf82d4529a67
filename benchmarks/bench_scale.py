"""Scale: %%tape on a training step, drawing a 1,000-op cell, memory of a 10,000-op cell.

Every figure is measured in this one run and printed beside its target (issue 4):

1. ``%%tape`` on one training step of a 2-layer MLP (784 -> 64 relu -> 10, batch of 32):
   the wall time of the complete magic, that is recording, gradient annotation, DOT and the
   SVG render of the default drawing, taken as ``shell.run_cell`` of the ``%%tape`` cell in
   IPython's test shell (the SVG is checked to be among the cell's outputs). Two steps: a
   Keras ``Sequential`` with ``keras.optimizers.SGD.apply_gradients`` (what learners run) and
   a hand-written step (``tf.GradientTape`` and ``assign_sub``). Median of several runs after
   a warm-up, interleaved with the torchviz runs so both see the same load. Target: <= 0.5 s,
   and no slower than torchviz: forward + loss + ``make_dot(loss, params=...)`` and
   ``.pipe(format="svg")`` (system ``dot``) on the same MLP in PyTorch, in a Python process
   of its own as in a PyTorch notebook (TensorFlow's busy thread pools would slow it down
   about 2x on 2 cores), where ``torch`` and ``torchviz`` are installed (not tapeviz
   dependencies; the comparison is skipped with a message otherwise). A breakdown of the
   Keras step follows: the cell without the magic, ``%%tape --quiet`` (recording and
   gradient annotation only), ``to_dot``, and the layout+SVG of that DOT (also with the
   system ``dot``, for comparison).
2. A cell of about 1,000 eager ops, recorded, then ``tapeviz.show(rec).svg()`` timed (building the
   default, collapsed drawing, layout and render). Two cells: a few Keras training steps, and
   a hand-written loop of small ops under a tape with its gradient. Target: <= 2 s.
3. A cell of about 10,000 ops (Keras training steps), run plain and under
   ``tapeviz.record``. Memory "beyond the tensors' own size" is the peak of Python-side
   allocations traced by ``tracemalloc`` while recording minus the same peak for the plain
   loop. tracemalloc sees Python objects and NumPy buffers (so the recording's ops, tensor
   nodes and the value copies and summaries it keeps) but not TensorFlow's own tensor
   buffers, which the plain loop allocates just the same. Target: <= 100 MB. As a second
   figure, independent of tracemalloc (those passes run first, without it): the growth of the
   resident set size over each pass, from its start to its peak (``VmHWM`` after resetting it
   through ``/proc/self/clear_refs``; without that, ``VmRSS`` at the end, the Recording still
   alive). RSS also counts TensorFlow buffers kept alive and allocator caching, so it is the
   coarser figure.

Run: ``.venv/bin/python benchmarks/bench_scale.py`` (about a minute on 2 cores);
``--memory`` runs part 3 only.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from IPython.testing.globalipapp import start_ipython  # noqa: E402
from IPython.utils.capture import capture_output  # noqa: E402

import tapeviz  # noqa: E402
from tapeviz.render import render  # noqa: E402

RUNS = 7          # timed runs of each %%tape cell (after one warm-up); the median is printed
DRAW_RUNS = 3     # timed draws of each 1,000-op recording
WARM_TORCH = 30   # untimed PyTorch forward calls before its runs
SIZES = (784, 64, 10)
BATCH = 32
KERAS_STEPS_1K = 17     # ~60 ops per Keras step: ~1,000 ops
SMALL_OPS_ITERS = 165   # ~6 forward and backward ops per iteration: ~1,000 ops
KERAS_STEPS_10K = 167   # ~10,000 ops
MB = 1e6

SETUP = f"""
import numpy as np, tensorflow as tf, keras
rng = np.random.default_rng(0)
x = tf.constant(rng.normal(size=({BATCH}, {SIZES[0]})), dtype=tf.float32)
y = tf.constant(rng.integers(0, {SIZES[2]}, size=({BATCH},)))
model = keras.Sequential([keras.Input(({SIZES[0]},)),
                          keras.layers.Dense({SIZES[1]}, activation="relu"),
                          keras.layers.Dense({SIZES[2]})])
optimizer = keras.optimizers.SGD(0.01)
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
w1 = tf.Variable(rng.normal(size=({SIZES[0]}, {SIZES[1]})) * 0.05, dtype=tf.float32)
b1 = tf.Variable(tf.zeros({SIZES[1]}))
w2 = tf.Variable(rng.normal(size=({SIZES[1]}, {SIZES[2]})) * 0.05, dtype=tf.float32)
b2 = tf.Variable(tf.zeros({SIZES[2]}))
params = [w1, b1, w2, b2]
"""
KERAS_STEP = """with tf.GradientTape() as tape:
    logits = model(x)
    loss = loss_fn(y, logits)
grads = tape.gradient(loss, model.trainable_weights)
optimizer.apply_gradients(zip(grads, model.trainable_weights));
"""
HAND_STEP = """with tf.GradientTape() as tape:
    hidden = tf.nn.relu(tf.matmul(x, w1) + b1)
    logits = tf.matmul(hidden, w2) + b2
    loss = tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
grads = tape.gradient(loss, params)
for p, g in zip(params, grads):
    p.assign_sub(0.01 * g)
"""
SMALL_OPS = f"""v = tf.Variable(0.5)
with tf.GradientTape() as tape:
    h = v
    for _ in range({SMALL_OPS_ITERS}):
        h = tf.sin(h) * 0.9 + 0.1
dh_dv = tape.gradient(h, v)
"""


# -- helpers ---------------------------------------------------------------------------------
def shell():
    ip = start_ipython()
    ip.run_line_magic("load_ext", "tapeviz")
    ip.run_cell(SETUP)
    return ip


def run_cell(ip, cell: str) -> float:
    """Wall time of one cell, its display outputs captured (and so its SVG rendered)."""
    start = time.perf_counter()
    with capture_output() as captured:
        result = ip.run_cell(cell)
    seconds = time.perf_counter() - start
    result.raise_error()
    if cell.startswith("%%tape\n"):
        assert any("image/svg+xml" in out.data for out in captured.outputs), "no SVG shown"
    return seconds


def median_time(action, runs: int) -> float:
    action()  # warm-up: TensorFlow's kernels, Keras' traced functions, the engine's caches
    return statistics.median(action() for _ in range(runs))


def drawn_nodes(dot: str) -> int:
    """Roughly the drawn nodes: DOT node statements (not graph/node/edge defaults)."""
    return len(re.findall(r"^\s*(?!(?:graph|node|edge)\b)(?:\w+|\"[^\"]*\")\s*\[", dot, re.M))


def row(name: str, figure: str, target: str, verdict: bool | None = None) -> None:
    mark = "" if verdict is None else ("ok" if verdict else "MISSED")
    print(f"{name:<54}{figure:>10}   {target:<18}{mark}".rstrip())


# -- 1. %%tape on one training step ----------------------------------------------------------
def step_vs_torchviz(ip, torch_step=None) -> dict[str, float]:
    """Median seconds of the two %%tape steps and, if available, the torchviz step.

    The runs are interleaved, so all of them see the same load on a shared machine.
    """
    actions = {name: lambda step=step: run_cell(ip, "%%tape\n" + step)
               for name, step in [("keras", KERAS_STEP), ("hand", HAND_STEP)]}
    if torch_step is not None:
        actions["torchviz"] = torch_step
    times: dict[str, list[float]] = {name: [] for name in actions}
    for action in actions.values():
        action()  # warm-up: TensorFlow's kernels, Keras' traced functions, the engine's caches
    for _ in range(RUNS):
        for name, action in actions.items():
            times[name].append(action())
    return {name: statistics.median(seconds) for name, seconds in times.items()}


def breakdown(ip) -> dict[str, float]:
    """Where the Keras step's time goes: the cell alone, recording only, DOT, layout+SVG."""
    times = {"plain": median_time(lambda: run_cell(ip, KERAS_STEP), RUNS),
             "record": median_time(lambda: run_cell(ip, "%%tape --quiet\n" + KERAS_STEP), RUNS)}
    rec = ip.user_ns["_tape"]
    times["ops"] = len(rec.ops)
    times["dot"] = median_time(lambda: _timed(lambda: tapeviz.to_dot(rec)), RUNS)
    dot = tapeviz.to_dot(rec)
    times["nodes"] = drawn_nodes(dot)
    times["render"] = median_time(lambda: _timed(lambda: render(dot, "svg")), RUNS)
    with contextlib.suppress(Exception):  # the system engine, for comparison only
        times["render_system"] = median_time(lambda: _timed(lambda: render(dot, "svg", "system")),
                                             RUNS)
    return times


def _timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


class Torchviz:
    """The PyTorch side, in a process of its own (like a PyTorch notebook: no TensorFlow in
    it, whose thread pools would slow it down), one timed step per :meth:`step` call."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", TORCHVIZ_CHILD],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True)
        word, _, rest = self.process.stdout.readline().partition(" ")
        self.nodes = drawn_nodes(json.loads(rest)) if word == "ready" else 0
        self.skipped = None if word == "ready" else (rest.strip() or "the PyTorch process died")

    def step(self) -> float:
        self.process.stdin.write("step\n")
        self.process.stdin.flush()
        return float(self.process.stdout.readline())

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)


TORCHVIZ_CHILD = f"""
import json, sys, time
try:
    import torch, torchviz
except ImportError as error:
    print("skipped", f"({{error.name}} not installed: pip install torch torchviz)", flush=True)
    sys.exit()
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear({SIZES[0]}, {SIZES[1]}), torch.nn.ReLU(),
                            torch.nn.Linear({SIZES[1]}, {SIZES[2]}))
x, y = torch.randn({BATCH}, {SIZES[0]}), torch.randint(0, {SIZES[2]}, ({BATCH},))
loss_fn = torch.nn.CrossEntropyLoss()
params = dict(model.named_parameters())
for _ in range({WARM_TORCH}):  # PyTorch's first ~10 forward calls take ~10 ms each
    loss_fn(model(x), y)

def step():
    start = time.perf_counter()
    loss = loss_fn(model(x), y)
    graph = torchviz.make_dot(loss, params=params)
    graph.pipe(format="svg")
    return time.perf_counter() - start, graph.source

try:
    source = step()[1]
except Exception as error:  # e.g. graphviz.ExecutableNotFound: no system `dot`
    print("skipped", f"(torchviz could not render: {{error}})".replace("\\n", " "), flush=True)
    sys.exit()
print("ready", json.dumps(source), flush=True)
for _ in sys.stdin:
    print(step()[0], flush=True)
"""


# -- 2. drawing a 1,000-op cell --------------------------------------------------------------
def draw_cell(ip, cell: str) -> tuple[int, int, float, float]:
    """Ops, drawn nodes, seconds of ``tapeviz.show(rec).svg()`` and of ``to_dot`` alone."""
    run_cell(ip, "%%tape --quiet\n" + cell)
    rec = ip.user_ns["_tape"]
    seconds = median_time(lambda: _timed(lambda: tapeviz.show(rec).svg()), DRAW_RUNS)
    dot_seconds = median_time(lambda: _timed(lambda: tapeviz.to_dot(rec)), DRAW_RUNS)
    return len(rec.ops), drawn_nodes(tapeviz.to_dot(rec)), seconds, dot_seconds


# -- 3. memory of a 10,000-op cell -----------------------------------------------------------
def keras_workload():
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(BATCH, SIZES[0])), dtype=tf.float32)
    y = tf.constant(rng.integers(0, SIZES[2], size=(BATCH,)))
    model = keras.Sequential([keras.Input((SIZES[0],)),
                              keras.layers.Dense(SIZES[1], activation="relu"),
                              keras.layers.Dense(SIZES[2])])
    optimizer = keras.optimizers.SGD(0.01)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def train(steps: int = KERAS_STEPS_10K) -> list[float]:
        losses = []
        for _ in range(steps):
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x))
            grads = tape.gradient(loss, model.trainable_weights)
            optimizer.apply_gradients(zip(grads, model.trainable_weights, strict=True))
            losses.append(float(loss))
        return losses

    return train


def _status(field: str) -> int:
    text = Path("/proc/self/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", text, re.M).group(1)) * 1024


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def rss_growth(action) -> tuple[float, int]:
    """Resident set growth over ``action()``: start to peak (or to end), and its result."""
    gc.collect()
    peak_resets = _reset_peak_rss()
    before = _status("VmRSS")
    result = action()
    after = _status("VmHWM" if peak_resets else "VmRSS")
    return (after - before) / MB, result


def traced_peak(action) -> tuple[float, int]:
    """Peak of tracemalloc-traced memory over ``action()``, above where it started."""
    gc.collect()
    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    result = action()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return (peak - start) / MB, result


def memory() -> dict[str, float]:
    train = keras_workload()
    train(3)  # warm-up: kernels, Keras' caches

    def plain() -> int:
        train()
        return 0

    def recorded() -> int:
        with tapeviz.record({"train": train}) as rec:
            train()
        return len(rec.ops)  # measured before the Recording is released

    plain()  # warm the allocator too, so the RSS passes compare like with like
    figures = {}
    figures["rss_plain"], _ = rss_growth(plain)
    figures["rss_recorded"], _ = rss_growth(recorded)
    figures["traced_plain"], _ = traced_peak(plain)
    figures["traced_recorded"], figures["ops"] = traced_peak(recorded)
    figures["peak_resets"] = _reset_peak_rss()
    return figures


# -- report ----------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--memory", action="store_true", help="part 3 (memory) only")
    started, load = time.perf_counter(), os.getloadavg()[0]
    if parser.parse_args().memory:
        print_memory(memory())
        print_load(started, load)
        return
    ip = shell()
    torch_side = Torchviz()
    step = step_vs_torchviz(ip, torch_side.step if torch_side.skipped is None else None)
    torch_side.close()
    step.update(breakdown(ip))
    loop = "".join(f"    {line}\n" for line in KERAS_STEP.splitlines())
    keras_1k = draw_cell(ip, f"for _ in range({KERAS_STEPS_1K}):\n{loop}")
    small_1k = draw_cell(ip, SMALL_OPS)
    mem = memory()

    print(f"{'benchmark':<54}{'measured':>10}   target (issue 4)")
    print("1. %%tape on one MLP training step (784-64-10, batch 32), median of "
          f"{RUNS} interleaved runs")
    row(f"   Keras Sequential + SGD ({step['ops']} ops)", f"{step['keras']:.3f} s", "<= 0.5 s",
        step["keras"] <= 0.5)
    row("   hand-written step", f"{step['hand']:.3f} s", "<= 0.5 s", step["hand"] <= 0.5)
    if torch_side.skipped:
        print(f"   torchviz comparison skipped {torch_side.skipped}")
    else:
        seconds = step["torchviz"]
        row(f"   torchviz make_dot ({torch_side.nodes} nodes, own process)", f"{seconds:.3f} s",
            "")
        ratio = step["keras"] / seconds
        row("   ratio tapeviz Keras / torchviz", f"{ratio:.2f}x", "<= 1x", ratio <= 1)
        ratio = step["hand"] / seconds
        row("   ratio tapeviz hand-written / torchviz", f"{ratio:.2f}x", "<= 1x", ratio <= 1)
    system = (f", system dot {step['render_system'] * 1000:.0f} ms"
              if "render_system" in step else "")
    print(f"     Keras step: cell alone {step['plain'] * 1000:.0f} ms, "
          f"%%tape --quiet (record only) {step['record'] * 1000:.0f} ms,")
    print(f"     to_dot {step['dot'] * 1000:.0f} ms, layout+SVG of {step['nodes']} drawn nodes "
          f"{step['render'] * 1000:.0f} ms{system}")
    print("2. a cell of ~1,000 ops: tapeviz.show(rec).svg() (default, collapsed drawing)")
    for name, (ops, nodes, seconds, dot) in [("Keras training steps", keras_1k),
                                             ("small-op loop + gradient", small_1k)]:
        row(f"   {name} ({ops} ops, {nodes} drawn nodes)", f"{seconds:.3f} s", "<= 2 s",
            seconds <= 2)
        print(f"     of which to_dot {dot:.3f} s, layout+SVG {seconds - dot:.3f} s")
    print_memory(mem)
    print_load(started, load)


def print_memory(mem: dict[str, float]) -> None:
    print(f"3. a cell of {mem['ops']:,} ops (Keras training steps): memory while recording")
    beyond = mem["traced_recorded"] - mem["traced_plain"]
    row("   beyond the tensors' own size (tracemalloc)", f"{beyond:.1f} MB", "<= 100 MB",
        beyond <= 100)
    print(f"     traced peak: recorded {mem['traced_recorded']:.1f} MB, "
          f"plain {mem['traced_plain']:.1f} MB")
    how = "start to peak" if mem["peak_resets"] else "start to end"
    row(f"   RSS growth, recorded - plain ({how})",
        f"{mem['rss_recorded'] - mem['rss_plain']:.1f} MB", "(second figure)")
    print(f"     RSS growth: recorded {mem['rss_recorded']:.1f} MB, "
          f"plain {mem['rss_plain']:.1f} MB")


def print_load(started: float, load: float) -> None:
    print(f"total time {time.perf_counter() - started:.0f} s; load average {load:.1f} at the "
          f"start, {os.getloadavg()[0]:.1f} at the end, on {os.cpu_count()} cores "
          "(times are noisy on a busy machine)")


if __name__ == "__main__":
    main()
