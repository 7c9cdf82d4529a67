"""tapeviz never fails a user's cell: a bug in any stage after the cell ran is only a note."""

import pytest

from tapeviz import _tfhooks, collapse, diagnostics, gradients, graph, recorder
from tapeviz.recorder import Recorder

from .conftest import notes_of
from .examples import EXAMPLE_1
from .test_magics import REFERENCE_1, plain_run

CELL = EXAMPLE_1 + "gradient * 2\n"  # prints, binds names and displays a value


def broken_in(module):
    """A function that raises IndexError as a bug in ``module`` would (its frame is there)."""
    namespace = {"__name__": module.__name__}
    exec(compile("def broken(*args, **kwargs):\n    raise IndexError('injected')\n",
                 module.__file__, "exec"), namespace)
    return namespace["broken"]


# (what to break, the stage the note names, whether a picture can still be drawn)
STAGES = [
    (Recorder, "finish", "naming", True),
    (gradients, "annotate", "gradients", True),
    (diagnostics, "diagnose", "diagnostics", True),
    (collapse, "view", "collapsing", False),
    (graph, "_tensor_attrs", "graph building", False),
]
MODULES = {"naming": recorder, "gradients": gradients, "diagnostics": diagnostics,
           "collapsing": collapse, "graph building": graph}


@pytest.mark.parametrize(("owner", "name", "stage", "drawn"), STAGES,
                         ids=[stage for *_, stage, _ in STAGES])
def test_a_failure_in_any_stage_leaves_the_cell_untouched(ipython, run_tape, monkeypatch,
                                                          owner, name, stage, drawn):
    plain, expected = plain_run(ipython, CELL)
    before = _tfhooks.hook_state()
    monkeypatch.setattr(owner, name, broken_in(MODULES[stage]))
    rec, result, out = run_tape(CELL, "")
    assert result.success and repr(result.result) == repr(plain.result)
    assert out.stdout.startswith(REFERENCE_1)  # then Out[n]: the value, as in the plain run
    assert out.stdout.split("]:", 1)[1] == expected.stdout.split("]:", 1)[1]
    assert out.stderr == expected.stderr
    assert float(ipython.user_ns["gradient"]) == 6.0
    assert ipython.user_ns["_tape"] is rec
    assert rec.internal_errors[0].stage == stage
    what = "finish" if drawn else "draw"
    assert notes_of(out).endswith(
        f"tapeviz could not {what} this cell (IndexError in {stage}); your cell ran normally; "
        "`_tape` holds what was recorded; please report this with `%%tape --debug`.")
    assert any("image/svg+xml" in o.data for o in out.outputs) == drawn
    assert "Traceback" not in notes_of(out)
    assert _tfhooks.hook_state() == before


def test_debug_shows_tapevizs_traceback_in_the_note(run_tape, monkeypatch):
    monkeypatch.setattr(collapse, "view", broken_in(collapse))
    _, result, out = run_tape(EXAMPLE_1, "--debug")
    assert result.success and out.stdout == REFERENCE_1
    note = notes_of(out)
    assert "Traceback (most recent call last)" in note and "IndexError: injected" in note
    html = next(o.data["text/html"] for o in out.outputs if "text/html" in o.data)
    assert "<details><summary>tapeviz traceback</summary><pre>" in html


def test_a_failure_in_the_users_cell_is_still_the_cells_error(run_tape, monkeypatch):
    monkeypatch.setattr(graph, "_tensor_attrs", broken_in(graph))
    _, result, out = run_tape("y = tf.square(2.0)\nraise ValueError('mine')", "")
    assert isinstance(result.error_in_exec, ValueError) and str(result.error_in_exec) == "mine"
    assert "IndexError in graph building" in notes_of(out)


def test_python_api_keeps_internal_errors_as_data_or_raises_with_debug(monkeypatch):
    import tensorflow as tf

    import tapeviz

    monkeypatch.setattr(gradients, "annotate", broken_in(gradients))
    x = tf.Variable(3.0)
    with tapeviz.record() as rec:
        with tf.GradientTape() as tape:
            y = x * x
        tape.gradient(y, x)
    assert [str(e) for e in rec.internal_errors] == ["IndexError in gradients: injected"]
    assert "internal error: IndexError in gradients: injected" in rec.summary()
    with pytest.raises(IndexError, match="injected"), tapeviz.record(debug=True):
        with tf.GradientTape() as tape:
            y = x * x
        tape.gradient(y, x)


def test_stdout_holds_only_what_the_users_code_printed(run_tape):
    cell = ("x = tf.constant(3.0)\n"
            "print('before')\n"
            "with tf.GradientTape() as tape:\n"
            "    y = x * x\n"
            "grad = tape.gradient(y, x)\n"    # unwatched: a diagnosis
            "total = tf.constant(0.0)\n"
            "for step in range(30):\n"
            "    total = total + 1.0\n"
            "print('after', grad)\n")
    rec, result, out = run_tape(cell, "--check --budget 10")
    assert out.stdout == "before\nafter None\n" and out.stderr == ""
    note = notes_of(out)
    assert "unwatched" in note and "gradient check x" in note
    assert "to stay within 10 nodes" in note  # what the picture leaves out is said too


def test_a_bad_output_path_is_refused_before_the_cell_runs(ipython, tmp_path):
    ipython.user_ns.pop("ran", None)
    _, out = plain_run(ipython, f"%%tape --output {tmp_path}/missing/graph.svg\nran = True")
    assert "the folder" in out.stdout + out.stderr and "does not exist" in out.stdout + out.stderr
    _, out = plain_run(ipython, f"%%tape --output {tmp_path}/graph.pdf\nran = True")
    assert "unknown format 'pdf'" in out.stdout + out.stderr
    assert "ran" not in ipython.user_ns and "Traceback" not in out.stdout + out.stderr
