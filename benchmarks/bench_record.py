"""Recording overhead: eager workloads, plain and under tapeviz.record(), and where time goes.

For each workload, every repeat runs it three ways in a row, so each triple sees the same
machine load: plain; with tapeviz's hooks installed and a sink that does nothing (the floor:
TensorFlow calling back into Python); and recorded. The recorded time is split into the hot
path (the cell running with the recorder receiving events) and the end (``record.__exit__``:
hooks removed, ``finish()``, gradients and diagnostics). Ratios are per triple; the median and
the lowest-highest are printed. Rendering is excluded.

Targets (issue 12): book ch. 2 loop and Keras fit <= 1.20x (cell time), <= 1.10x without the
end; scalar ops <= 1.6x.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_record.py [--repeats N] [--only NAME]
"""

import argparse
import linecache
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import tapeviz  # noqa: E402
from tapeviz import _tfhooks  # noqa: E402


def load_as_cell(path: Path) -> dict:
    """Run a file as IPython runs a notebook cell: compiled from its text under a file name of
    its own, the text kept in linecache. tapeviz then sees its functions as the user's code
    (a file under the project or site-packages would be a library's, walked past)."""
    source = path.read_text()
    filename = f"<cell {path.name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {"__name__": path.stem}
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - our own benchmark file
    return namespace


WORKLOADS = load_as_cell(Path(__file__).with_name("workloads.py"))["WORKLOADS"]


class _NothingSink:
    """A hook sink that does nothing: what the hooks alone cost."""

    def __getattr__(self, name):
        return _nothing


def _nothing(*args):
    return None


def _timed(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def measure(workload, repeats: int) -> dict:
    """Times of ``repeats`` triples (plain, hooks only, recorded split in hot path and end)."""
    times = {"plain": [], "hooks": [], "hot": [], "end": [], "recorded": []}
    workload()  # warm up TensorFlow's kernels and caches
    ops = 0
    for _ in range(repeats):
        start = time.perf_counter()
        expected = workload()
        times["plain"].append(time.perf_counter() - start)

        with _tfhooks.installed(_NothingSink()):
            times["hooks"].append(_timed(workload))

        recording = tapeviz.record({})
        start = time.perf_counter()
        rec = recording.__enter__()
        got = workload()
        middle = time.perf_counter()
        recording.__exit__(None, None, None)
        end = time.perf_counter()
        times["hot"].append(middle - start)
        times["end"].append(end - middle)
        times["recorded"].append(end - start)
        assert got == expected, "recording must not change results"
        assert not rec.internal_errors, rec.internal_errors
        ops = len(rec.ops)
    return {"ops": ops, **times}


def _ratio(times: dict, kind: str) -> str:
    ratios = sorted(t / p for t, p in zip(times[kind], times["plain"], strict=True))
    return f"{statistics.median(ratios):.2f}x ({ratios[0]:.2f}-{ratios[-1]:.2f})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--only", action="append", choices=sorted(WORKLOADS))
    args = parser.parse_args()
    print(f"{'workload':<27}{'ops':>6}{'plain s':>9}{'recorded s':>11}  "
          f"{'recorded/plain':<19}{'hooks only':<19}{'hot path':<19}{'end s':>7}")
    for key in args.only or WORKLOADS:
        name, workload = WORKLOADS[key]
        times = measure(workload, args.repeats)
        median = statistics.median
        print(f"{name:<27}{times['ops']:>6}{median(times['plain']):>9.3f}"
              f"{median(times['recorded']):>11.3f}  {_ratio(times, 'recorded'):<19}"
              f"{_ratio(times, 'hooks'):<19}{_ratio(times, 'hot'):<19}"
              f"{median(times['end']):>7.3f}", flush=True)
    print("ratios: median of per-repeat ratios to the plain run of the same repeat "
          "(lowest-highest); hooks only: callbacks installed, sink doing nothing; hot path: "
          "recorded without the end (finish(), gradients, diagnostics); end s: its median time")
    print("targets (issue 12): ch. 2 loop and Keras fit <= 1.20x recorded, <= 1.10x hot path; "
          "scalar ops <= 1.6x")


if __name__ == "__main__":
    main()
