"""%%tape in a real IPython shell: transparent, clean, with man-page options."""

import pytest

import tapeviz
from tapeviz import _tfhooks
from tapeviz.magics import TapeMagics, view_options
from tapeviz.options import ViewOptions

from .conftest import notes_of
from .examples import EXAMPLE_1, EXAMPLE_2

REFERENCE_1 = ("tf.Tensor(6.0, shape=(), dtype=float32)\n"
               "<tf.Variable 'Variable:0' shape=() dtype=float32, numpy=3.0>\n")


def plain_run(ipython, cell):
    from IPython.utils.capture import capture_output

    with capture_output() as captured:
        result = ipython.run_cell(cell)
    return result, captured


def test_reference_examples_print_the_reference_outputs(run_tape):
    rec, result, out = run_tape(EXAMPLE_1, "")
    assert result.success and out.stdout == REFERENCE_1
    assert [o for o in out.outputs if "image/svg+xml" in o.data]
    assert rec.named("gradient").value == 6.0
    rec, result, out = run_tape(EXAMPLE_2, "")
    assert out.stdout == "tf.Tensor(9.8, shape=(), dtype=float32)\n"
    assert [t.name for t in rec.tapes] == ["outer_tape", "inner_tape"]


def test_output_and_last_value_are_exactly_as_without_the_magic(ipython, run_tape):
    cell = "print('hello')\nx = tf.constant([1.0, 2.0])\nx * 2"
    plain, expected = plain_run(ipython, cell)
    _, result, got = run_tape(cell)
    assert "hello" in got.stdout and "[2., 4.]" in got.stdout
    # the same text, but for the prompt number (Out[n]) of each run
    assert got.stdout.split("]:", 1)[1] == expected.stdout.split("]:", 1)[1]
    assert repr(result.result) == repr(plain.result)
    assert ipython.user_ns["_"] is result.result  # history sees the value as usual
    _, result, got = run_tape("x * 2;")
    assert result.result is None and got.stdout == ""  # a trailing ';' still hides it


def test_errors_show_the_users_traceback_once_and_fail_the_cell(ipython, run_tape):
    before = _tfhooks.hook_state()
    cell = "def divide():\n    return tf.constant(1.0) / 0 + 1 / 0\ndivide()"
    rec, result, out = run_tape(cell)
    assert isinstance(result.error_in_exec, ZeroDivisionError)
    shown = out.stdout
    assert shown.count("Traceback (most recent call last)") == 1
    assert "divide()" in shown and "1 / 0" in shown
    assert "tapeviz" not in shown and "run_cell" not in shown
    assert [op.type for op in rec.ops] == ["RealDiv"]  # what ran before the error
    assert _tfhooks.hook_state() == before


def test_keyboard_interrupt_leaves_no_hook_behind(run_tape):
    before = _tfhooks.hook_state()
    _, result, _ = run_tape("y = tf.square(2.0)\nraise KeyboardInterrupt")
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    assert _tfhooks.hook_state() == before


def test_syntax_errors_are_reported_as_usual(ipython, run_tape):
    from tapeviz.magics import CellFailed

    before = _tfhooks.hook_state()
    _, expected = plain_run(ipython, "x = (1,")
    _, result, out = run_tape("x = (1,", "")
    # IPython would re-format a SyntaxError raised by a magic with the magic's frames, so the
    # cell fails with CellFailed, displayed with exactly the text IPython showed for the cell
    assert isinstance(result.error_in_exec, CellFailed)
    assert "incomplete input" in str(result.error_in_exec)
    assert out.stdout == expected.stdout and "SyntaxError: incomplete input" in out.stdout
    assert _tfhooks.hook_state() == before


def test_unknown_option_gives_usage_not_a_traceback(ipython):
    _, out = plain_run(ipython, "%%tape --bogus\nx = 1")
    text = out.stdout + out.stderr
    assert "UsageError" in text and "unrecognized arguments: --bogus" in text
    assert "%%tape [--name VAR]" in text  # the usage line names the cell magic
    assert "Traceback" not in text


def test_help_reads_like_a_man_page(ipython):
    doc = ipython.find_cell_magic("tape").__doc__
    assert doc.startswith("::\n\n  %%tape [--name VAR]")
    for option in ("--no-backward", "--no-values", "--format", "--output", "--quiet",
                   "--static", "--replay"):
        assert option in doc
    assert "Example:" in doc and "_tape" in doc
    assert f"(default {ViewOptions().budget})" in " ".join(doc.split())


def test_the_options_are_built_in_one_place_with_the_python_defaults():
    from IPython.core.magic_arguments import parse_argstring

    def parsed(line):
        return view_options(parse_argstring(TapeMagics.tape, line))

    assert parsed("") == ViewOptions()
    assert parsed("--no-values --all-ops --depth 2 --expand d1 --expand d2 --budget 30 "
                  "--static --replay") == ViewOptions(
        values=False, all_ops=True, depth=2, expand=("d1", "d2"), budget=30, static=True,
        replay=True)
    assert parsed("--no-backward").backward is False


def test_notes_name_the_flag_that_shows_more(run_tape):
    cell = "t = tf.constant(0.0)\nfor _ in range(200):\n    t = t + 1.0\n"
    _, _, out = run_tape(cell, "--budget 100")
    note = notes_of(out)
    assert note.startswith("Showing the first ") and "(200 ops) to stay within 100 nodes." in note
    assert note.endswith(" Use --budget 601 to see more.") and "budget=" not in note


def test_name_binds_the_recording(ipython, run_tape):
    rec, _, _ = run_tape("y = tf.square(2.0)", "--quiet --name my_rec")
    assert ipython.user_ns["my_rec"] is rec is ipython.user_ns["_tape"]


def test_formats_and_output_file(run_tape, tmp_path):
    _, _, out = run_tape("y = tf.square(2.0)", "--format text")
    assert out.stdout.startswith("tapeviz recording: 1 ops") and "y = Square" in out.stdout
    _, _, out = run_tape("y = tf.square(2.0)", "--format dot")
    assert out.stdout.startswith("digraph tapeviz {")
    _, _, out = run_tape("y = tf.square(2.0)", "--format png")
    assert out.outputs[0].data["image/png"]
    target = tmp_path / "square.svg"
    _, _, out = run_tape("y = tf.square(2.0)", f"--quiet --output {target}")
    assert "<svg" in target.read_text() and out.stdout == "" and not out.outputs


def test_no_backward_option_hides_backward_ops(run_tape):
    _, _, out = run_tape(EXAMPLE_1, "--format dot --no-backward")
    assert "Square" in out.stdout and "backward:" not in out.stdout


def test_a_cell_without_tensorflow_gets_a_one_line_note_not_on_stdout(run_tape):
    rec, result, out = run_tape("x = 1 + 1", "")
    assert result.success and rec.ops == [] and out.stdout == ""
    assert notes_of(out) == "This cell ran no TensorFlow op, so there is nothing to draw."


def test_a_training_loop_of_tens_of_thousands_of_ops_still_finishes(ipython, run_tape):
    cell = "total = tf.constant(0.0)\nfor _ in range(25_000):\n    total = total + 1.0\n"
    rec, result, _ = run_tape(cell, "--quiet")
    assert result.success and rec.truncated and len(rec.ops) == 20_000
    assert "Recording stopped after 20,000 ops" in rec.summary()
    assert float(ipython.user_ns["total"]) == 25_000.0


def test_loading_twice_is_harmless_and_unloading_removes_the_magic(ipython):
    tapeviz.load_ipython_extension(ipython)
    tapeviz.load_ipython_extension(ipython)
    assert ipython.find_cell_magic("tape") is not None
    tapeviz.unload_ipython_extension(ipython)
    assert ipython.find_cell_magic("tape") is None
    tapeviz.load_ipython_extension(ipython)
    assert ipython.find_cell_magic("tape") is not None


@pytest.mark.parametrize("cell", ["x = tf.constant(1.0) + 1", "raise ValueError('x')"])
def test_hooks_are_gone_after_every_cell(run_tape, cell):
    before = _tfhooks.hook_state()
    run_tape(cell)
    assert _tfhooks.hook_state() == before


def test_tracebacks_and_warnings_name_the_cell_as_without_the_magic(ipython):
    from IPython.utils.capture import capture_output

    # a warning says where it came from by the code's file name, as does a traceback
    cell = "def where():\n    pass\nprint(where.__code__.co_filename)\n1 / 0"
    for prefix in ("", "%%tape\n"):
        with capture_output() as out:
            result = ipython.run_cell(prefix + cell, store_history=True)
        number = result.execution_count
        assert f"In[{number}]" in out.stdout and f"In[{number + 1}]" not in out.stdout
        assert out.stdout.startswith(f"<ipython-input-{number}-")


def test_errors_raised_through_tapevizs_hooks_show_no_tapeviz_frame(run_tape):
    cell = ("x = tf.constant(3.0)\n"
            "with tf.GradientTape() as tape:\n"
            "    tape.watch(x)\n"
            "    y = x * x\n"
            "tape.gradient(y, x)\n"
            "tape.gradient(y, x)\n")
    _, result, out = run_tape(cell, "")
    assert isinstance(result.error_in_exec, RuntimeError)
    assert "backprop.py" in out.stdout and "tapeviz" not in out.stdout


def test_a_recording_shows_as_its_picture(ipython, run_tape):
    rec, _, _ = run_tape(EXAMPLE_1)
    data, _ = ipython.display_formatter.format(rec)  # what `_tape` alone in a cell shows
    assert data["image/svg+xml"].lstrip().startswith("<?xml") and "Square" in data[
        "image/svg+xml"]
    assert data["text/plain"] == rec.summary() == repr(rec)


def test_importing_tapeviz_in_ipython_is_enough_for_a_recording_to_show(ipython, run_tape):
    import importlib

    rec, _, _ = run_tape(EXAMPLE_1)
    formatter = ipython.display_formatter.mimebundle_formatter
    formatter.pop("tapeviz.recording.Recording")
    assert "image/svg+xml" not in ipython.display_formatter.format(rec)[0]
    importlib.reload(tapeviz)  # `import tapeviz` in a notebook, no %load_ext
    assert "image/svg+xml" in ipython.display_formatter.format(rec)[0]


@pytest.fixture
def kernel(ipython, monkeypatch):
    """The shell as a notebook kernel has it (``shell.kernel``): front ends that show widgets."""
    monkeypatch.setattr(ipython, "kernel", object(), raising=False)


def mime_types(captured) -> list[list[str]]:
    return [sorted(output.data) for output in captured.outputs]


def test_in_a_kernel_the_picture_comes_with_the_interactive_view(kernel, ipython, run_tape):
    from ipywidgets.widgets.widget import _instances

    from tapeviz.widgets.view import VIEW_TEXT, WIDGET_MIME

    rec, _, out = run_tape(EXAMPLE_1, "--replay")
    assert mime_types(out) == [["image/svg+xml", "text/plain"], [WIDGET_MIME, "text/plain"]]
    svg, widget = (output.data for output in out.outputs)
    assert "Square" in svg["image/svg+xml"] and widget["text/plain"] == VIEW_TEXT
    view = _instances[widget[WIDGET_MIME]["model_id"]]
    assert view.rec is rec and view.replay and view.step == 0  # --replay opens the replay
    assert out.stdout == plain_run(ipython, EXAMPLE_1)[1].stdout and out.stderr == ""


@pytest.mark.parametrize("options", ["--static", "--format png", "--format dot --quiet"])
def test_static_and_other_formats_show_no_widget(kernel, run_tape, options):
    _, _, out = run_tape(EXAMPLE_1, options)
    assert not any("application/vnd.jupyter.widget-view+json" in o.data for o in out.outputs)


def test_outside_a_kernel_only_the_picture_is_shown(run_tape):
    _, _, out = run_tape(EXAMPLE_1, "")
    assert mime_types(out) == [["image/svg+xml", "text/plain"]]


def test_a_view_that_fails_leaves_the_picture_and_a_note(kernel, run_tape, monkeypatch):
    from tapeviz.widgets import view

    def broken(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'anywidget'")

    monkeypatch.setattr(view, "GraphView", broken)
    _, _, out = run_tape(EXAMPLE_1, "")
    assert mime_types(out)[0] == ["image/svg+xml", "text/plain"]
    assert "could not finish this cell (ModuleNotFoundError in interactive view)" in notes_of(out)


def test_each_forward_op_knows_the_line_of_the_cell_that_ran_it(run_tape):
    from tapeviz.widgets.view import tensor_details

    rec, _, _ = run_tape(EXAMPLE_1)
    (square,) = [op for op in rec.ops if op.type == "Square"]
    assert (square.line, square.code) == (3, "result = tf.square(input_var)")
    assert all(op.line is None for op in rec.ops if op.phase == "backward")
    rows = dict(tensor_details(rec.named("result"), rec)["rows"])
    assert rows["code"] == "line 3: result = tf.square(input_var)"
