"""The private-API boundary: every hook is installed while recording and removed after."""

import sys

import pytest
import tensorflow as tf

import tapeviz
from tapeviz import _tfhooks


def test_hooks_are_installed_inside_and_restored_after():
    before = _tfhooks.hook_state()
    with tapeviz.record():
        inside = _tfhooks.hook_state()
        assert len(inside["op_callbacks"]) == len(before["op_callbacks"]) + 1
        changed = {key for key in before if inside[key] is not before[key]}
        assert changed >= {"TFE_Py_FastPathExecute", "BaseResourceVariable.handle",
                           "GradientTape._push_tape", "GradientTape.gradient"}
    after = _tfhooks.hook_state()
    assert all(after[key] is before[key] for key in before if key != "op_callbacks")
    assert after["op_callbacks"] == before["op_callbacks"]


@pytest.mark.parametrize("error", [ValueError("boom"), KeyboardInterrupt()])
def test_hooks_are_restored_on_exceptions_and_interrupts(error):
    before = _tfhooks.hook_state()
    with pytest.raises(type(error)), tapeviz.record():
        tf.square(tf.constant(2.0))
        raise error
    after = _tfhooks.hook_state()
    assert all(after[key] is before[key] for key in before if key != "op_callbacks")
    assert after["op_callbacks"] == before["op_callbacks"]


def test_keras_layer_call_is_patched_only_while_recording():
    import keras  # noqa: F401 - hooks wrap keras.Layer.__call__ when Keras is loaded

    original = sys.modules["keras"].Layer.__dict__["__call__"]
    with tapeviz.record():
        assert sys.modules["keras"].Layer.__dict__["__call__"] is not original
    assert sys.modules["keras"].Layer.__dict__["__call__"] is original


def test_other_threads_are_not_recorded():
    import threading

    with tapeviz.record() as rec:
        thread = threading.Thread(target=lambda: tf.square(tf.constant(3.0)))
        thread.start()
        thread.join()
        tf.sqrt(tf.constant(4.0))
    assert [op.type for op in rec.ops] == ["Sqrt"]


def test_a_bug_in_the_recorder_never_breaks_the_users_code(monkeypatch):
    from tapeviz.recorder import Recorder

    def broken(self, *args):
        raise RuntimeError("recorder bug")

    monkeypatch.setattr(Recorder, "on_op", broken)
    with tapeviz.record() as rec:
        y = tf.square(tf.constant(3.0))
    assert float(y) == 9.0
    assert "internal errors" in rec.notes[-1] and "recorder bug" in rec.notes[-1]


def test_helpers_are_plain():
    assert _tfhooks.function_name("__inference_train_step_123") == "train_step"
    assert _tfhooks.function_name("MatMul") is None
    assert _tfhooks.tensor_id(3.0) is None
    assert _tfhooks.variable_handle_id(tf.constant(1.0)) is None
    v = tf.Variable(1.0)
    assert _tfhooks.variable_handle_id(v) == v.handle._id


def test_watch_accessed_variables_false_is_respected():
    v = tf.Variable(2.0)
    with tapeviz.record():
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            y = v * v
        assert tape.gradient(y, v) is None  # tapeviz's own reads must not watch v
