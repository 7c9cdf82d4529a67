"""Recording -> DOT: structure, clusters, options, determinism and escaping."""

import re
from pathlib import Path

import numpy as np
import pytest

import tapeviz
from tapeviz.graph import escape
from tapeviz.recording import Op, Recording, TapeRecord, TensorNode
from tapeviz.render import render
from tapeviz.serialize import loads

from . import examples
from .examples import EXAMPLE_1, EXAMPLE_2
from .layout import Picture, boxes_in, clusters_of

GOLDEN = Path(__file__).resolve().parent / "golden"


def record_source(source):
    return examples.record_source(source)[0]


def plain(dot):
    """DOT with the HTML tags of labels removed."""
    return re.sub(r"</?(b|font|table|tr|td|br)\b[^>]*>", " ", dot)


def labels(dot):
    """node id -> the text of its label, tags stripped."""
    found = {}
    for node_id, label in re.findall(r"^\s*(n\d+) \[label=<(.*?)> [a-z]", dot, re.M):
        found[node_id] = plain(label).split()
    return found


def edges(dot):
    return re.findall(r"^\s*(n\d+) -> (n\d+)", dot, re.M)


def test_example_1_draws_input_var_read_square_result_and_gradient(capsys):
    dot = tapeviz.to_dot(record_source(EXAMPLE_1))
    text = {node: " ".join(words) for node, words in labels(dot).items()}
    by_text = {v.split()[0]: k for k, v in text.items()}
    read, square = by_text["ReadVariableOp"], by_text["Square"]
    result, gradient = by_text["result"], by_text["gradient"]
    initial = next(k for k, v in text.items() if v.startswith("input_var (initial value)"))
    arrows = edges(dot)
    (read_out,) = [h for t, h in arrows if t == read]
    assert (initial, read) in arrows and (read_out, square) in arrows
    assert (square, result) in arrows
    # values and d result / d node: the chain rule readable on the page
    assert text[result] == "result float32 () 9.0 grad 1.0"
    assert text[gradient] == "gradient float32 () 6.0"
    assert text[initial] == "input_var (initial value) float32 () 3.0 grad 6.0"
    assert "gradient of Square (result)" in " ".join(plain(dot).split())
    assert "backward: tape.gradient(result, input_var)" in " ".join(plain(dot).split())
    assert "tf.Tensor(6.0, shape=(), dtype=float32)" in capsys.readouterr().out


def test_example_2_draws_nested_tape_clusters():
    dot = tapeviz.to_dot(record_source(EXAMPLE_2))
    text = " ".join(plain(dot).split())
    outer = text.index("GradientTape outer_tape")
    inner = text.index("GradientTape inner_tape")
    inner_grad = text.index("backward: inner_tape.gradient(position, time)")
    outer_grad = text.index("backward: outer_tape.gradient(speed, time)")
    assert outer < inner < inner_grad < outer_grad
    # the inner gradient call is drawn inside the outer tape's cluster (it recorded it)
    depth = 0
    for line in dot[:dot.index("inner_tape.gradient")].splitlines():
        depth += line.count("{") - line.count("}")
    assert depth == 3  # digraph { cluster outer { cluster inner-gradient {
    assert "acceleration" in text and "9.8" in text


TWO_CALLS = """\
x = tf.Variable(2.0)
with tf.GradientTape(persistent=True) as tape:
    y = x * x
    z = y * x
dy_dx = tape.gradient(y, x)
dz_dx = tape.gradient(z, x)
"""

HIDDEN_TARGET = """\
@tf.custom_gradient
def clip_gradients(y):
    def backward(dy):
        return tf.clip_by_norm(dy, 0.5)
    return y, backward

v = tf.Variable(2.0)
with tf.GradientTape() as tape:
    output = clip_gradients(v * v)
grad = tape.gradient(output, v)
"""


def passes_and_tapes(rec):
    """For each gradient call: the boxes of its pass, of its tape's cluster, and of its target
    (None where the target is not drawn), as laid out in the SVG."""
    dot = tapeviz.to_dot(rec)
    picture = Picture.from_svg(render(dot, "svg").decode())
    around = clusters_of(dot)
    titled = {words[0]: node for node, words in labels(dot).items()}
    return [(call.id, boxes_in(picture, around, call.id), boxes_in(picture, around, call.tape),
             picture.boxes.get(titled.get(call.target.title))) for call in rec.gradient_calls]


def assert_each_pass_right_of_its_tape_and_below_its_target(rec, passes):
    found = passes_and_tapes(rec)
    for call, backward, tape, target in found:
        assert backward and tape, call
        assert min(b.left for b in backward) > max(f.right for f in tape), call
        assert target is None or min(b.top for b in backward) > target.bottom, call
    assert len(found) == passes


@pytest.mark.parametrize(("name", "passes"), [("example_1", 1), ("example_2", 2),
                                              ("mlp_step", 1), ("nested_tape", 2)])
def test_each_backward_pass_is_drawn_right_of_its_tape_and_below_its_target(name, passes):
    # example 2 and nested_tape: the inner pass is right of the inner tape, inside the outer
    # tape, and the outer pass right of the outer tape
    rec = loads((GOLDEN / f"{name}.json").read_text())
    assert_each_pass_right_of_its_tape_and_below_its_target(rec, passes)


def test_two_gradient_calls_of_one_persistent_tape_are_both_drawn_right_of_it():
    assert_each_pass_right_of_its_tape_and_below_its_target(record_source(TWO_CALLS), 2)


def test_a_pass_whose_target_is_not_drawn_is_still_drawn_right_of_its_tape():
    rec = record_source(HIDDEN_TARGET)
    ((_, backward, tape, target),) = passes_and_tapes(rec)
    assert target is None  # "output" is an Identity of v * v, a hidden bookkeeping op
    assert min(b.left for b in backward) > max(f.right for f in tape)


def test_many_leaf_inputs_of_one_op_are_stacked_in_rows_of_four():
    rec = record_source("total = tf.add_n([tf.constant(float(i)) for i in range(10)])")
    dot = tapeviz.to_dot(rec)
    picture = Picture.from_svg(render(dot, "svg").decode())
    (add_n,) = [n for n, words in labels(dot).items() if words == ["AddN"]]
    leaves = [picture.boxes[t] for t, h in edges(dot) if h == add_n]
    rows = sorted({round(box.top) for box in leaves})
    assert len(leaves) == 10 and len(rows) == 3  # 4 + 4 + 2
    assert all(sum(round(box.top) == row for box in leaves) <= 4 for row in rows)


def test_with_the_backward_pass_hidden_the_update_is_still_drawn_below_the_loss():
    rec = loads((GOLDEN / "mlp_step.json").read_text())
    dot = tapeviz.to_dot(rec, backward=False)
    picture = Picture.from_svg(render(dot, "svg").decode())
    titled = {words[0]: node for node, words in labels(dot).items()}
    assert picture.boxes[titled["sgd"]].top > picture.boxes[titled["loss"]].bottom


def test_all_ops_draws_every_recorded_op_and_tensor():
    rec = record_source(EXAMPLE_2)
    dot = tapeviz.to_dot(rec, all_ops=True)
    drawn = labels(dot)
    assert sum(1 for words in drawn.values() if words[0] in {"Mul", "Pow", "Sub",
               "ReadVariableOp", "AssignVariableOp", "VarHandleOp"} and len(words) == 1) \
        == len(rec.ops)
    keys = {node.key for op in rec.ops for node in (*op.inputs, *op.outputs)}
    assert len(drawn) == len(rec.ops) + len(keys)


def test_no_backward_and_no_values_options():
    rec = record_source(EXAMPLE_1)
    dot = tapeviz.to_dot(rec, backward=False, values=False)
    assert "backward:" not in dot and "#f8cecc" not in dot
    assert "9.0" not in dot and "3.0" not in dot
    assert "Square" in dot and "result" in dot


def test_same_cell_gives_byte_identical_dot():
    assert tapeviz.to_dot(record_source(EXAMPLE_2)) == tapeviz.to_dot(record_source(EXAMPLE_2))


def test_big_recordings_are_limited_and_say_so():
    rec = record_source("x = tf.constant(0.0)\nfor _ in range(30):\n    x = x + 1.0\n")
    dot = tapeviz.to_dot(rec, max_ops=10)
    assert dot.count("fillcolor=\"#fff2cc\"") == 10
    assert "Showing the first 10 of 30 boxes (30 ops)." in dot


HOSTILE = '<script>alert(1)</script> "quoted" {braces} & amp\nnew line'


def hostile_recording():
    node = TensorNode(id=1, kind="constant", shape=(), dtype="float32",
                      value=np.array(1.0, dtype=np.float32), name=HOSTILE)
    out = TensorNode(id=2, kind="op_output", shape=(), dtype="float32", name=HOSTILE * 2)
    op = Op(index=0, type=HOSTILE, inputs=[node], outputs=[out], phase="forward",
            tapes=(1,), region=1, gradient_call=None)
    out.producer = op
    return Recording(ops=[op], tensors={"t1": node, "t2": out},
                     tapes=[TapeRecord(id=1, name=HOSTILE, persistent=False, parent=None)])


def test_user_strings_are_escaped_in_dot_and_svg():
    dot = tapeviz.to_dot(hostile_recording())
    assert "<script>" not in dot and "&lt;script&gt;" in dot
    assert "&quot;quoted&quot;" in dot and "&amp; amp<br/>new line" in dot
    svg = render(dot, "svg").decode()
    assert "<script" not in svg.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg


@pytest.mark.parametrize("text", ["a&b", "<b>", '"', "\n", "{}", "]]>"])
def test_escape_leaves_no_markup(text):
    assert not set(escape(text)) & set('<>"') or escape(text) == "<br/>"


def test_values_never_show_a_signed_zero_nor_float32_noise():
    import numpy as np

    from tapeviz.recording import Summary, format_value

    assert format_value(np.array(-0.0, dtype=np.float32)) == "0.0"
    assert format_value(np.array([-0.0, 1.5], dtype=np.float32)) == "[0.0 1.5]"
    assert str(Summary(min=-0.0, mean=-0.0, max=-0.0, first=())) == "min 0 mean 0 max 0"
    assert format_value(np.array(0.30000001192092896, dtype=np.float32)) == "0.3"
    assert format_value(np.array(1.9660802, dtype=np.float32)) == "1.966"
    assert format_value(np.array([2.3e-08, 12345.678, 3], dtype=np.float32)) == \
        "[2.3e-08 1.235e+04 3.0]"
    assert format_value(np.array([1, 2], dtype=np.int32)) == "[1 2]"
