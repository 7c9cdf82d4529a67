"""Golden recordings (tests/golden/): JSON files that graph, collapse and diagnostics tests
read without TensorFlow, and the check that the recorder still writes exactly them."""

import filecmp
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tapeviz.diagnostics import diagnose
from tapeviz.pipeline import to_dot
from tapeviz.recording import Recording, Summary
from tapeviz.serialize import dumps, loads

GOLDEN = Path(__file__).resolve().parent / "golden"
CASES = sorted(p.stem for p in GOLDEN.glob("*.json"))
ROOT = GOLDEN.parents[1]


def load(name: str) -> Recording:
    return loads((GOLDEN / f"{name}.json").read_text())


def test_there_are_the_five_cases():
    assert CASES == ["diagnostics", "example_1", "example_2", "mlp_step", "nested_tape"]


@pytest.mark.parametrize("name", CASES)
def test_a_loaded_recording_draws_and_reads_as_when_recorded(name):
    rec = load(name)
    assert to_dot(rec) == (GOLDEN / f"{name}.dot").read_text()
    assert to_dot(rec, all_ops=True) == (GOLDEN / f"{name}.all_ops.dot").read_text()
    assert rec.summary() + "\n" == (GOLDEN / f"{name}.txt").read_text()
    assert dumps(rec) == (GOLDEN / f"{name}.json").read_text()  # nothing lost on the way


def test_loaded_objects_are_linked_as_recorded():
    rec = load("example_1")
    square = next(op for op in rec.ops if op.type == "Square")
    assert square.outputs[0] is rec.named("result") and rec.named("result").producer is square
    assert rec.target is rec.named("result")
    assert rec.named("input_var").value.dtype == np.float32
    assert rec.named("input_var").value.shape == ()
    step = rec.backward_steps[0]
    assert step.forward is square and step.upstream[0].value == 1.0
    mlp = load("mlp_step")
    assert mlp.named("grads[0]").value.shape == (3, 4)
    assert {s.kind for s in mlp.scopes.values()} == {"layer"}


def test_values_of_every_kind_round_trip():
    from tapeviz.recording import TensorNode

    rec = Recording()
    values = [Summary(min=-1.0, mean=0.5, max=2.0, first=(1.0, -0.0), sampled=True),
              np.array([1 + 2j, 3j], dtype=np.complex64), np.array([np.nan, -0.0, np.inf]),
              np.array(True), np.arange(6, dtype=np.int64).reshape(2, 3), None]
    for i, value in enumerate(values):
        rec.tensors[f"t{i}"] = TensorNode(id=i, kind="constant", shape=None, dtype="x",
                                          value=value, grad=value)
    again = loads(dumps(rec))
    for value, node in zip(values, again.tensors.values(), strict=True):
        for got in (node.value, node.grad):
            if isinstance(value, np.ndarray):
                assert got.dtype == value.dtype and got.shape == value.shape
                np.testing.assert_array_equal(got, value)
                if value.dtype.kind == "f":
                    assert np.signbit(got).tolist() == np.signbit(value).tolist()
            else:
                assert got == value
    assert dumps(again) == dumps(rec)


def test_diagnostics_are_found_again_in_a_loaded_recording():
    rec = load("diagnostics")
    stored = rec.diagnostics
    assert [f.kind for f in stored] == ["unwatched", "left_tensorflow"]
    assert diagnose(rec, rec.gradient_calls[-1]) == stored


def test_golden_recordings_need_no_tensorflow():
    code = ("import sys, pathlib\n"
            "from tapeviz.serialize import loads\n"
            "from tapeviz.pipeline import to_dot\n"
            "from tapeviz.diagnostics import diagnose\n"
            f"for path in sorted(pathlib.Path({str(GOLDEN)!r}).glob('*.json')):\n"
            "    rec = loads(path.read_text())\n"
            "    assert to_dot(rec) == path.with_suffix('.dot').read_text()\n"
            "    if rec.gradient_calls: diagnose(rec, rec.gradient_calls[-1])\n"
            "assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'\n"
            "print('ok')\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": ""}, check=False)
    assert run.stdout == "ok\n", run.stderr


def test_the_recorder_still_writes_the_golden_files(tmp_path):
    """Regenerate with `python tests/golden/make.py` when a change is meant to change them."""
    run = subprocess.run([sys.executable, str(GOLDEN / "make.py"), str(tmp_path)],
                         capture_output=True, text=True, cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT), "PATH": "", "TF_CPP_MIN_LOG_LEVEL": "3"},
                         check=False)
    assert run.returncode == 0, run.stderr
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(p.name for p in GOLDEN.iterdir() if p.name != "make.py")
    match, mismatch, errors = filecmp.cmpfiles(GOLDEN, tmp_path, names, shallow=False)
    assert (mismatch, errors) == ([], [])


def test_a_live_recording_round_trips_with_gradients_and_checks():
    import tensorflow as tf

    import tapeviz

    w = tf.Variable([1.0, -2.0])
    with tapeviz.record(check=True) as rec:
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(w * w)
        grad = tape.gradient(loss, w)
    assert float(tf.reduce_sum(grad)) == -2.0
    text = dumps(rec)
    again = loads(text)
    assert dumps(again) == text and to_dot(again) == to_dot(rec)
    assert again.summary() == rec.summary() and again.checks == rec.checks
    assert json.loads(text)["checks"]


def test_not_a_recording_is_refused():
    with pytest.raises(ValueError, match="not a tapeviz recording"):
        loads('{"format": 99}')
