"""The interactive view: how long a click on a layer box takes to come back redrawn (issue 11).

The 1,000-op cell of bench_scale.py (17 Keras training steps of the 784-64-10 MLP) is recorded
once; then ``GraphView.toggle("dense")``, what a click on the "dense (Dense)" box runs in the
kernel, is timed: the new collapsed view, its DOT, layout and SVG, and everything the browser is
sent (node kinds, tensor details, replay steps). Then the same click again, closing the box.
Target: < 1 s for the expand. Measured in this one run.

Run: ``PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_view.py``
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import re  # noqa: E402
import time  # noqa: E402

from bench_scale import KERAS_STEP, KERAS_STEPS_1K, run_cell, shell  # noqa: E402

from tapeviz.widgets.view import GraphView  # noqa: E402

TARGET_S = 1.0


def nodes(svg: str) -> int:
    return len(re.findall(r'class="node"', svg))


def main() -> None:
    ip = shell()
    loop = "".join(f"    {line}\n" for line in KERAS_STEP.splitlines())
    run_cell(ip, f"%%tape --quiet\nfor _ in range({KERAS_STEPS_1K}):\n{loop}")
    rec = ip.user_ns["_tape"]
    start = time.perf_counter()
    view = GraphView(rec)
    first = time.perf_counter() - start
    before = nodes(view.svg)
    start = time.perf_counter()
    view.toggle("dense")
    expand = time.perf_counter() - start
    after = nodes(view.svg)
    start = time.perf_counter()
    view.toggle("dense")
    close = time.perf_counter() - start
    mark = "ok" if expand < TARGET_S else "MISSED"
    print(f"a cell of {len(rec.ops):,} ops (Keras training steps), one run each")
    rows = [(f"first view ({before} nodes drawn)", first, ""),
            (f"expand 'dense' ({before} -> {after} nodes)", expand,
             f"target < {TARGET_S:.0f} s  {mark}"),
            ("close it again", close, "")]
    for name, seconds, target in rows:
        print(f"  {name:<40}{seconds:.3f} s   {target}".rstrip())
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
