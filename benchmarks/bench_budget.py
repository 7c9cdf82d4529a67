"""Memory while recording: a cell making ~2 GB of temporaries (a loop over big matmuls).

Eager tensors are kept by reference while the cell runs, up to the recorder's byte budget
(tapeviz.recorder.BUDGET, 256 MB); past it, each tensor is summarised at once and freed as
usual. Each variant runs in a fresh process; peak RSS (ru_maxrss) is printed for each.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_budget.py
"""

import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

CELL = """
import resource, time, tensorflow as tf, tapeviz
x = tf.random.stateless_normal((1024, 1024), seed=(1, 2))  # 4 MB
tf.matmul(x, x)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
def work():
    total = tf.zeros(())
    for _ in range(256):  # 512 temporaries of 4 MB: 2 GB made, each freed after the next op
        y = tf.matmul(x, x) * 0.001
        total += tf.reduce_sum(y)
    return float(total)
start = time.perf_counter()
if {recorded}:
    with tapeviz.record({{}}) as rec:
        result = work()
    ops, notes = len(rec.ops), rec.notes
else:
    (result, ops), notes = (work(), 0), []
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
mb = (peak - before) / 1024
print(f"{{ops}} ops, {{seconds:.2f}} s, peak RSS +{{mb:.0f}} MB, {{result:.6g}}")
print(*(f"note: {{note}}" for note in notes), sep="\\n")
"""


def main() -> None:
    for label, recorded in (("plain", False), ("recorded", True)):
        run = subprocess.run([sys.executable, "-c", CELL.format(recorded=recorded)],
                             capture_output=True, text=True, check=True)
        print(f"{label:<9}{run.stdout.strip()}")
    print("the recorded run may hold at most the budget (256 MB) more than the plain one")


if __name__ == "__main__":
    main()
