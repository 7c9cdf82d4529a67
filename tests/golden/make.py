"""Write the golden recordings: each case recorded, saved as JSON, with its DOT and summary.

    PYTHONPATH=$PWD .venv/bin/python tests/golden/make.py [OUT_DIR]   # default: this folder

Run it in a fresh process (tensor ids count from the process start); test_golden.py checks
that it still writes exactly the stored files, and the TF-free tests read them.
"""

import contextlib
import io
import linecache
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.examples import EXAMPLE_1, EXAMPLE_2  # noqa: E402

MLP_STEP = """\
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu"),
                          keras.layers.Dense(1)])
loss_fn = keras.losses.MeanSquaredError()
optimizer = keras.optimizers.SGD(0.1)
x = tf.constant([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]])
y = tf.constant([[1.0], [0.0]])
with tf.GradientTape() as tape:
    loss = loss_fn(y, model(x))
grads = tape.gradient(loss, model.trainable_variables)
optimizer.apply(grads, model.trainable_variables)
"""

NESTED_TAPE = """\
def f(x):
    return tf.sin(x) * x
x = tf.Variable([0.5, 1.0])
with tf.GradientTape(persistent=True) as outer:
    with tf.GradientTape() as inner:
        y = f(x)
    dy_dx = inner.gradient(y, x)
    total = tf.reduce_sum(dy_dx)
d2y_dx2 = outer.gradient(total, x)
"""

DIAGNOSTICS = """\
x = tf.constant(3.0)
w = tf.Variable(2.0)
with tf.GradientTape() as tape:
    y = x * w
    z = tf.constant(y.numpy()) * 2.0
grads = tape.gradient(z, [x, w])
"""

CASES = {"example_1": EXAMPLE_1, "example_2": EXAMPLE_2, "mlp_step": MLP_STEP,
         "nested_tape": NESTED_TAPE, "diagnostics": DIAGNOSTICS}
HERE = Path(__file__).resolve().parent


def record(code: str):
    import keras
    import tensorflow as tf

    import tapeviz

    namespace = {"tf": tf, "keras": keras}
    # like IPython with a cell: the source is in linecache, so each op knows its line's text
    linecache.cache["<golden>"] = (len(code), None, code.splitlines(True), "<golden>")
    with contextlib.redirect_stdout(io.StringIO()), tapeviz.record(namespace) as rec:
        exec(compile(code, "<golden>", "exec"), namespace)
    return rec


def main(out: Path) -> None:
    from tapeviz import pipeline, serialize

    out.mkdir(parents=True, exist_ok=True)
    for name, code in CASES.items():
        rec = record(code)
        assert not rec.internal_errors, rec.internal_errors
        (out / f"{name}.json").write_text(serialize.dumps(rec))
        (out / f"{name}.dot").write_text(pipeline.to_dot(rec))
        (out / f"{name}.all_ops.dot").write_text(pipeline.to_dot(rec, all_ops=True))
        (out / f"{name}.txt").write_text(rec.summary() + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
