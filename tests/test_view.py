"""The interactive view, Python side (no browser): what it draws, tells the browser and displays.

Golden recordings (tests/golden/) stand in for cells: no TensorFlow runs here. The browser side
is tested in tests/e2e/test_view.py.
"""

import re
from fnmatch import fnmatch
from importlib.resources import files
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tapeviz.options import ViewOptions
from tapeviz.recording import Op, Recording, Summary, TensorNode
from tapeviz.render import Drawing
from tapeviz.replay import replay_steps
from tapeviz.widgets import view as view_module
from tapeviz.widgets.view import VIEW_TEXT, WIDGET_MIME, GraphView, tensor_details, view

from .test_golden import load

ROOT = Path(__file__).resolve().parents[1]


def drawn_nodes(svg: str) -> int:
    return len(re.findall(r'<g id="node\d+" class="node">', svg))


def node_id(v: GraphView, text: str) -> str:
    return next(i for i, n in v.nodes.items() if n["text"] == text)


def fake_steps(rec: Recording) -> list:
    """Two steps in helper R's ReplayStep shape, for the Square of seed example 1."""
    square = next(op for op in rec.ops if op.type == "Square")
    muls = [op.index for op in rec.ops if op.type == "Mul"]
    step = SimpleNamespace(index=0, op=square.index, region=rec.backward_steps[0].id,
                           upstream=(rec.backward_steps[0].upstream[0].key,),
                           local_ops=tuple(muls),
                           downstream=(rec.named("gradient").key,),
                           caption="d result / d input_var = 1.0 × 2·x = 1.0 × 6.0 = 6.0",
                           accumulated=())
    return [step, SimpleNamespace(**{**vars(step), "index": 1, "caption": "<script>x</script>"})]


def test_clicking_a_layer_box_opens_it_and_a_second_click_closes_it():
    v = GraphView(load("mlp_step"))
    before, boxes = v.svg, drawn_nodes(v.svg)
    dense = node_id(v, "dense (Dense)")
    assert v.nodes[dense] == {"kind": "group", "text": "dense (Dense)", "opens": "dense"}

    v._on_message(v, {"type": "toggle", "name": "dense"}, [])
    assert v.opened == ["dense"] and not v.busy and not v.error
    assert drawn_nodes(v.svg) > boxes + 10  # its MatMul, BiasAdd, Relu, ... and their tensors
    assert "dense (Dense)" not in {n["text"] for n in v.nodes.values()}
    closing = {n["text"] for n in v.nodes.values() if n.get("closes") == "dense"}
    assert {"MatMul", "BiasAdd"} <= closing  # a click on one of its ops closes it again
    assert v.nodes[node_id(v, "dense_1 (Dense)")]["opens"] == "dense_1"

    v._on_message(v, {"type": "toggle", "name": "dense"}, [])
    assert v.opened == [] and v.svg == before


def test_a_redraw_that_fails_keeps_the_picture_and_says_why(monkeypatch):
    v = GraphView(load("mlp_step"))
    before = v.svg

    def broken(*args, **kwargs):
        raise RuntimeError("no engine")

    monkeypatch.setattr(view_module.Drawing, "svg", broken)
    v._on_message(v, {"type": "toggle", "name": "dense"}, [])
    assert v.svg == before and v.opened == [] and not v.busy
    assert v.error == "tapeviz could not redraw: no engine"


def test_details_of_a_tensor_name_shape_dtype_value_gradient_and_producer():
    v = GraphView(load("example_1"))
    details = v.details[node_id(v, "result")]
    assert details == {
        "title": "result", "kind": "op_output", "value": None, "gradient": None,
        "rows": [["shape", "()"], ["dtype", "float32"], ["value", "9.0"], ["gradient", "1.0"],
                 ["made by", "Square (forward pass)"],
                 ["code", "line 3: result = tf.square(input_var)"]]}
    assert v.nodes[node_id(v, "result")] == {"kind": "tensor", "text": "result"}
    assert set(v.details) == {i for i, n in v.nodes.items() if n["kind"] == "tensor"}


def test_details_say_which_layer_calls_made_a_tensor():
    v = GraphView(load("mlp_step"), expand=("dense",))
    inside = {tuple(row) for d in v.details.values() for row in d["rows"] if row[0] == "inside"}
    assert ("inside", "sequential → dense") in inside


def test_a_small_tensor_is_shown_in_full_and_a_big_one_as_summary_and_histogram():
    values = np.linspace(-1.0, 1.0, 24, dtype=np.float32).reshape(4, 6)
    small = tensor_details(TensorNode(1, "op_output", (4, 6), "float32", value=values,
                                      grad=np.ones((4, 6), np.float32)), Recording())
    assert small["rows"][2][1].startswith("[[-1.0 -0.913 -0.8261")  # all 24, not a summary
    assert small["rows"][2][1].count(" ") == 23
    assert sum(small["value"]["counts"]) == 24 and len(small["value"]["counts"]) == 12
    assert small["value"]["min"] == -1.0 and small["value"]["max"] == 1.0

    summary = Summary(min=-2.0, mean=0.25, max=3.0, first=(1.0, 2.0))
    big = tensor_details(TensorNode(2, "variable", (784, 64), "float32", value=summary,
                                    name="W"), Recording())
    assert big["rows"][2] == ["value", "min -2 mean 0.25 max 3"]
    assert big["value"] == {"min": -2.0, "mean": 0.25, "max": 3.0, "counts": []}
    assert big["rows"][-1] == ["made by", "a variable (a leaf of the graph)"]


def test_search_text_is_each_node_s_name_or_op():
    v = GraphView(load("example_1"))
    texts = sorted(n["text"] for n in v.nodes.values() if n["text"])
    assert texts == ["AssignVariableOp", "Mul", "Mul", "ReadVariableOp", "ReadVariableOp",
                     "Square", "gradient", "input_var", "result"]


def test_replay_steps_become_the_dot_ids_to_highlight(monkeypatch):
    rec = load("example_1")
    monkeypatch.setattr(view_module, "replay_steps", fake_steps)
    v = GraphView(rec, replay=True)
    assert v.replay and v.step == 0
    first = v.steps[0]
    assert first["caption"] == "d result / d input_var = 1.0 × 2·x = 1.0 × 6.0 = 6.0"
    assert first["op"] == [node_id(v, "Square")]
    assert [v.nodes[i]["text"] for i in first["local"]] == ["Mul", "Mul"]
    assert [v.nodes[i]["text"] for i in first["downstream"]] == ["gradient"]
    upstream = v.details[first["upstream"][0]]
    assert upstream["rows"][2] == ["value", "1.0"]  # the seed d result / d result
    assert first["accumulated"] == [] and v.steps[1]["index"] == 1
    assert v.steps[1]["caption"] == "<script>x</script>"  # data: view.js sets textContent
    assert GraphView(rec).step == -1  # not on the replay unless asked


def test_the_replay_is_replay_steps_on_the_drawing():
    rec = load("example_2")  # nested tapes: the inner gradient call replayed, then the outer
    v = GraphView(rec, replay=True)
    steps = replay_steps(rec)
    assert [s["caption"] for s in v.steps] == [s.caption for s in steps]
    assert any("9.8" in s["caption"] for s in v.steps)
    boxes = {key: node_id for node_id, key in graph_keys(v).items()}
    for payload, step in zip(v.steps, steps, strict=True):
        assert payload["op"] == [boxes[f"op{step.op}"]]  # each forward op is drawn on its own
        assert payload["downstream"] == [boxes[k] for k in step.downstream if k in boxes]


def graph_keys(v: GraphView) -> dict[str, str]:
    """DOT id -> box or tensor key, drawn again the way the view draws."""
    return view_module._draw(v.rec, v.options)[2].keys


def test_display_is_the_static_svg_then_the_widget_and_no_script():
    from IPython.testing.globalipapp import start_ipython
    from IPython.utils.capture import capture_output

    start_ipython()
    v = view(load("mlp_step"))
    with capture_output() as captured:
        v._ipython_display_()
    static, widget = (out.data for out in captured.outputs)
    assert static["image/svg+xml"] == v.static_svg == v.svg
    assert static["image/svg+xml"].count("<title>tapeviz</title>") == 1  # how JS finds its twin
    assert static["text/plain"].startswith("tapeviz recording: ")
    assert widget == {WIDGET_MIME: {"version_major": 2, "version_minor": 0,
                                    "model_id": v.model_id}, "text/plain": VIEW_TEXT}
    assert not any("text/html" in out.data for out in captured.outputs)
    still = view(load("mlp_step"), static=True)
    assert isinstance(still, Drawing)
    assert set(still._repr_mimebundle_()) == {"image/svg+xml", "text/plain"}


def test_the_browser_code_ships_in_the_package_and_loads_nothing_from_the_network():
    js = files("tapeviz.widgets").joinpath("view.js").read_text()
    css = files("tapeviz.widgets").joinpath("view.css").read_text()
    assert GraphView._esm == js and GraphView._css == css
    assert "export default" in js
    assert not re.search(r"^\s*import\b|https?://|\bfetch\(", js, re.M)
    assert "innerHTML" not in js and "insertAdjacentHTML" not in js  # text goes in as text
    assert not re.search(r"@import|url\(", css)


def test_a_name_that_looks_like_markup_stays_text():
    rec = Recording()
    x = TensorNode(1, "constant", (), "float32", value=np.array(2.0, np.float32),
                   name="<script>alert(1)</script>")
    y = TensorNode(2, "op_output", (), "float32", value=np.array(4.0, np.float32), name="y")
    op = Op(0, "Square", [x], [y], "forward", (), None, None)
    y.producer = op
    rec.ops.append(op)
    rec.tensors.update({x.key: x, y.key: y})
    v = GraphView(rec)
    assert "<script" not in v.svg and "&lt;script&gt;alert(1)&lt;/script&gt;" in v.svg
    assert v.details[node_id(v, "<script>alert(1)</script>")]["title"] == (
        "<script>alert(1)</script>")  # data, put in with textContent by view.js


def test_options_are_view_options_and_unknown_ones_are_refused():
    v = GraphView(load("mlp_step"), ViewOptions(expand=("dense",)), replay=True)
    assert v.options == ViewOptions(expand=("dense",), replay=True) and v.opened == ["dense"]
    with pytest.raises(TypeError, match="ViewOptions has no option 'colour'"):
        GraphView(load("example_1"), colour="red")


def test_pyproject_ships_every_non_python_file_of_the_package():
    """What a non-editable install (tests/test_binder.py) gets: package-data must name them.

    (Building a wheel here would need a newer setuptools than the venv's, from the network.)
    """
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]
    package = ROOT / "tapeviz"
    shipped = [path for path in package.rglob("*.*")
               if path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts]
    assert {p.name for p in shipped} >= {"view.js", "view.css"}
    for path in shipped:
        name = ".".join(path.parent.relative_to(ROOT).parts)
        assert any(fnmatch(path.name, pattern) for pattern in patterns.get(name, ())), path
