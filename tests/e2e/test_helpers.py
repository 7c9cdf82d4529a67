"""The checks of the browser tests catch what they must: broken SVG, lost ops, errors, stderr.

The unit tests need no browser. ``test_checks_catch_a_broken_renderer_in_the_browser`` runs
``notebooks/checks_catch.ipynb``, whose cells break tapeviz's renderer on purpose, in JupyterLab.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.parse
from pathlib import Path

import nbformat
import pytest

from tests.e2e.jupyter import (
    FIXTURES,
    SENTINEL,
    Cell,
    NotebookPage,
    artefacts_on_failure,
    cell_output_problems,
    decode_data_url,
    foreign_stderr,
    is_tensorflow_log,
    kernel_message_problems,
    notebook_problems,
    stage_notebook,
    summary_ops,
    svg_image_problems,
    tape_cell_problems,
)

# What a kernel really printed at `import tensorflow` and at the first op (lesson 00).
TF_STDERR = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1795866317.204506    5057 port.cc:153] oneDNN custom operations are on. You may "
    "see slightly different numerical results due to floating-point round-off errors.\n"
    "I0000 00:00:1795866317.266253    5057 cpu_feature_guard.cc:227] This TensorFlow binary is "
    "optimized to use available CPU instructions in performance-critical operations.\n"
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild "
    "TensorFlow with the appropriate compiler flags.\n"
    "E0000 00:00:1795866319.832546    5057 cuda_platform.cc:52] failed call to cuInit: INTERNAL: "
    "CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n"
)
SUMMARY = """tapeviz recording: 8 ops
  forward (6 ops): 1 AssignVariableOp, 1 Identity, 2 ReadVariableOp, 1 Square, 1 VarHandleOp
  backward (2 ops): 2 Mul
  GradientTape tape
  input_var = variable float32 () 3.0"""
# one node per op, bookkeeping (Identity, VarHandleOp) hidden: what tapeviz draws for SUMMARY
DRAWN = ["AssignVariableOp", "ReadVariableOp", "ReadVariableOp", "Square", "Mul", "Mul",
         "input_var", "float32 ()", "3.0"]


def svg_with_texts(*texts: str) -> str:
    body = "".join(f"<text x='0' y='{10 * i}'>{text}</text>" for i, text in enumerate(texts))
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN"'
            ' "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="10pt" height="10pt">{body}</svg>')


def drawn(svg: str, width: int = 100) -> dict:
    """An ``<img>`` as the page reports it, with JupyterLab's URL-encoded data URL."""
    return {"src": "data:image/svg+xml," + urllib.parse.quote(svg), "naturalWidth": width,
            "naturalHeight": width, "loaded": width > 0}


def tape_cell(outputs: list[dict], images: list[dict], first_line: str = "%%tape") -> Cell:
    return Cell(3, "code", f"{first_line}\ny = tf.square(x)", [], 3, outputs, images)


def summary_output(text: str = SUMMARY) -> dict:
    return {"output_type": "display_data", "metadata": {},
            "data": {"text/plain": text, "image/svg+xml": "..."}}


# -- stderr -----------------------------------------------------------------------------------

def test_tensorflow_start_up_logs_are_harmless():
    assert is_tensorflow_log(TF_STDERR)
    assert foreign_stderr(TF_STDERR) == ""


def test_other_stderr_is_singled_out_even_among_tensorflow_logs():
    text = TF_STDERR + "UserWarning: Do not pass an `input_shape` to a layer.\n"
    assert not is_tensorflow_log(text)
    assert foreign_stderr(text) == "UserWarning: Do not pass an `input_shape` to a layer."
    # Python-side TensorFlow warnings (e.g. retracing) are worth a look: a lesson opts in
    assert not is_tensorflow_log("WARNING:tensorflow:5 out of the last 5 calls triggered "
                                 "tf.function retracing.")


def test_cell_outputs_errors_and_stderr_unless_tagged():
    outputs = [{"output_type": "stream", "name": "stderr", "text": [TF_STDERR, "oops\n"]},
               {"output_type": "error", "ename": "ValueError", "evalue": "bad", "traceback": []}]
    problems = cell_output_problems(Cell(4, "code", "f()", [], 4, outputs, []))
    stderr, error = problems
    assert stderr == "cell 4: unexpected stderr:\n    oops"  # the TensorFlow lines left out
    assert error == "cell 4: error ValueError: bad"
    tagged = Cell(4, "code", "f()", ["raises-exception", "expect-stderr"], 4, outputs, [])
    assert cell_output_problems(tagged) == []


def test_kernel_messages_outside_cells():
    probe = [{"type": "stream", "parent": "comm_open", "content": {
        "name": "stderr", "text": "No such comm target registered: jupyter.widget.control\n"}},
        {"type": "stream", "parent": "comm_msg", "content": {
            "name": "stderr", "text": "No such comm: 0d56fd3-80d1-4f55-b172-07bdd723825e\n"}}]
    assert kernel_message_problems(probe) == []
    callback = [{"type": "error", "parent": "comm_msg",
                 "content": {"ename": "ZeroDivisionError", "evalue": "division by zero"}}]
    assert kernel_message_problems(callback) == [
        "kernel error outside a cell (reply to comm_msg): ZeroDivisionError: division by zero"]


# -- SVG --------------------------------------------------------------------------------------

def test_summary_ops():
    assert summary_ops(SUMMARY) == [
        ("forward", "AssignVariableOp", 1), ("forward", "Identity", 1),
        ("forward", "ReadVariableOp", 2), ("forward", "Square", 1), ("forward", "VarHandleOp", 1),
        ("backward", "Mul", 2)]
    assert summary_ops("  forward (1 ops): 1 train_step()") == [("forward", "train_step()", 1)]


def test_data_urls_decode_both_ways():
    svg = svg_with_texts("a &amp; b", "ü")
    assert decode_data_url(drawn(svg)["src"]) == svg
    encoded = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()
    assert decode_data_url(encoded) == svg


def test_a_good_svg_passes():
    assert svg_image_problems(drawn(svg_with_texts(*DRAWN)), SUMMARY) == []


def test_an_invalid_svg_fails():
    broken = svg_with_texts(*DRAWN)[:-40]
    problems = svg_image_problems(drawn(broken, width=0), SUMMARY)
    assert any("could not draw" in p for p in problems), problems
    assert any("not well-formed" in p for p in problems), problems


def test_an_svg_without_an_op_fails():
    one_mul = [text for text in DRAWN if text != "Mul"] + ["Mul"]
    assert svg_image_problems(drawn(svg_with_texts(*one_mul)), SUMMARY) == [
        "ops missing from the SVG (not drawn, not in a box): Mul"]
    no_mul = [text for text in DRAWN if text != "Mul"]
    assert svg_image_problems(drawn(svg_with_texts(*no_mul)), SUMMARY) == [
        "ops missing from the SVG (not drawn, not in a box): Mul x2"]
    assert svg_image_problems(drawn(svg_with_texts(*no_mul)), SUMMARY, backward=False) == []


def test_hidden_bookkeeping_is_required_with_all_ops():
    problems = svg_image_problems(drawn(svg_with_texts(*DRAWN)), SUMMARY, all_ops=True)
    assert problems == ["ops missing from the SVG (not drawn, not in a box): Identity, "
                        "VarHandleOp"]


def test_ops_collapsed_into_boxes_count_as_drawn():
    boxed = [text for text in DRAWN if text not in ("ReadVariableOp", "Square")]
    assert svg_image_problems(drawn(svg_with_texts(*boxed, "dense (Dense)", "3 ops")),
                              SUMMARY) == []
    assert svg_image_problems(drawn(svg_with_texts(*boxed, "dense (Dense)", "2 ops")),
                              SUMMARY) != []


def test_a_graph_cut_at_its_size_limit_is_not_held_to_the_summary():
    note = "Showing the first 400 of 612 boxes (900 ops)."
    assert svg_image_problems(drawn(svg_with_texts("Square", note)), SUMMARY) == []


def test_tape_cells_need_one_image_per_recording():
    image = drawn(svg_with_texts(*DRAWN))
    assert tape_cell_problems(tape_cell([summary_output()], [image])) == []
    assert tape_cell_problems(tape_cell([summary_output()], [])) == [
        "cell 3: 1 recordings but 0 SVG images on the page"]
    assert tape_cell_problems(tape_cell([], [])) == ["cell 3: %%tape showed no graph summary"]
    failed = summary_output(SUMMARY + "\n\ntapeviz could not draw this graph: boom")
    assert any("could not draw" in p for p in tape_cell_problems(tape_cell([failed], [image])))
    # nothing to draw in these
    assert tape_cell_problems(tape_cell([], [], "%%tape --quiet")) == []
    assert tape_cell_problems(tape_cell([], [], "%%tape --format text")) == []
    assert Cell(0, "code", "x = 1\n%%tape", [], 1, [], []).tape_options is None


def test_a_note_saying_why_nothing_was_drawn_is_enough_but_a_failure_is_not():
    def note(text):
        return {"output_type": "display_data", "metadata": {},
                "data": {"text/plain": text, "text/html": '<div class="tapeviz-notes">...'}}

    quiet = note("This cell ran no TensorFlow op, so there is nothing to draw.")
    assert tape_cell_problems(tape_cell([quiet], [])) == []
    failed = note("tapeviz could not draw this cell (IndexError in graph building); ...")
    assert tape_cell_problems(tape_cell([failed], [])) == [
        "cell 3: tapeviz could not draw:     tapeviz could not draw this cell (IndexError in "
        "graph building); ..."]


def test_stage_notebook_strips_outputs_and_appends_the_sentinel(tmp_path: Path):
    source = FIXTURES / "stepper.ipynb"
    before = source.read_bytes()
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
    notebook.cells[0].outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "2"})]
    notebook.cells[0].execution_count = 1
    nbformat.write(notebook, tmp_path / "in.ipynb")
    staged = json.loads(stage_notebook(tmp_path / "in.ipynb", tmp_path / "out.ipynb").read_text())
    assert staged["cells"][0]["outputs"] == [] and staged["cells"][0]["execution_count"] is None
    assert SENTINEL in "".join(staged["cells"][-1]["source"])
    after = [nbformat.v4.new_code_cell("x = 2")]
    staged = json.loads(stage_notebook(tmp_path / "in.ipynb", tmp_path / "out.ipynb",
                                       after).read_text())
    assert ["".join(cell["source"]) for cell in staged["cells"][1:-1]] == ["x = 2"]
    assert SENTINEL in "".join(staged["cells"][-1]["source"])
    assert staged["metadata"]["kernelspec"]["name"] == "python3"
    stage_notebook(source, tmp_path / "stepper.ipynb")
    assert source.read_bytes() == before  # the source is never touched


# -- in the browser ---------------------------------------------------------------------------

@pytest.mark.e2e
def test_checks_catch_a_broken_renderer_in_the_browser(page, jupyter_server, stage):
    notebook = NotebookPage(page, jupyter_server, stage("checks_catch.ipynb", "helpers"))
    with artefacts_on_failure(page, jupyter_server, "lab-checks_catch"):
        notebook.open()
        started = time.monotonic()
        run = notebook.run_all(timeout=120)
        assert time.monotonic() - started < 90, "a stop at an error must end the wait early"
        assert not run.finished  # cell 11 raises untagged: "run all" stops there

        by_cell = {cell.index: cell_output_problems(cell) + tape_cell_problems(cell)
                   for cell in run.cells}
        assert by_cell[2] == [], "the good %%tape cell (and TensorFlow's logs) must pass"
        assert any("could not draw the SVG" in p for p in by_cell[4]), by_cell[4]
        assert any("not well-formed" in p for p in by_cell[4]), by_cell[4]
        assert by_cell[6] == ["cell 6: ops missing from the SVG (not drawn, not in a box): "
                              "Square"]
        assert len(by_cell[7]) == 1 and "a stray warning" in by_cell[7][0]
        assert by_cell[8] == [] and by_cell[9] == []  # tagged: on purpose
        assert by_cell[11] == ["cell 11: error RuntimeError: run all stops here"]
        assert run.cells[12].execution_count is None
        assert [i for i, problems in by_cell.items() if problems] == [4, 6, 7, 11]
        assert "'run all' did not reach the last cell" in notebook_problems(run)[0]

        notebook.cell(10).get_by_role("button", name="Divide by zero").click()
        page.wait_for_function("() => window.__e2e.messages.some(m => m.type === 'error')")
        assert kernel_message_problems(notebook.collect().kernel_messages) == [
            "kernel error outside a cell (reply to comm_msg): ZeroDivisionError: division by zero"]
