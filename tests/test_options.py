"""ViewOptions: every drawing option and its default in one place; notes worded by their reader."""

import dataclasses
from pathlib import Path

import pytest

import tapeviz
from tapeviz import collapse
from tapeviz.magics import as_flag
from tapeviz.options import DEFAULTS, OPTION_NAMES, Note, ViewOptions, as_argument
from tapeviz.serialize import loads

GOLDEN = Path(__file__).resolve().parent / "golden"


def example_1():
    """The README's x² at x = 3, as recorded (no TensorFlow needed)."""
    return loads((GOLDEN / "example_1.json").read_text())


def test_the_defaults():
    assert ViewOptions() == DEFAULTS == ViewOptions(
        backward=True, values=True, all_ops=False, depth=None, expand=(), budget=150,
        max_ops=400, static=False, replay=False)
    assert OPTION_NAMES == ("backward", "values", "all_ops", "depth", "expand", "budget",
                            "max_ops", "static", "replay")
    assert tapeviz.ViewOptions is ViewOptions


def test_options_are_frozen_and_replace_makes_new_ones():
    options = ViewOptions()
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.budget = 3
    changed = options.replace(budget=300, all_ops=True)
    assert (changed.budget, changed.all_ops, changed.values) == (300, True, True)
    assert options == ViewOptions()  # unchanged
    assert changed.replace() == changed and hash(changed) == hash(ViewOptions(budget=300,
                                                                              all_ops=True))


def test_expand_is_always_a_tuple_of_names():
    assert ViewOptions(expand=["d1", "d2"]).expand == ("d1", "d2")
    assert ViewOptions().replace(expand=["d1"]).expand == ("d1",)
    assert ViewOptions(expand="dense").expand == ("dense",)  # one name, not its letters
    assert ViewOptions(expand=["d1"]) == ViewOptions(expand=("d1",))


def test_an_unknown_option_names_the_valid_ones():
    with pytest.raises(TypeError) as error:
        ViewOptions().replace(budget=10, bugdet=300)
    assert str(error.value) == (
        "ViewOptions has no option 'bugdet'; the options are: backward, values, all_ops, "
        "depth, expand, budget, max_ops, static, replay")
    with pytest.raises(TypeError, match="no option 'no_values'; the options are: backward"):
        tapeviz.show(example_1(), no_values=True)


def test_show_takes_options_and_changes_the_changes_winning():
    rec = example_1()
    base = ViewOptions(values=False, budget=1000)
    assert tapeviz.to_dot(rec, base, values=True) == tapeviz.to_dot(rec, budget=1000)
    assert tapeviz.to_dot(rec, base) == tapeviz.to_dot(rec, values=False, budget=1000)
    assert tapeviz.to_dot(rec, base) != tapeviz.to_dot(rec)


COLLAPSED = Note("collapsed", "Collapsed to 1 level(s) of layers/functions to stay within "
                 "25 nodes.", (("budget", 41), ("all_ops", True)))


def test_a_note_in_pythons_words():
    assert str(COLLAPSED) == COLLAPSED.worded() == COLLAPSED.worded(as_argument) == (
        "Collapsed to 1 level(s) of layers/functions to stay within 25 nodes. "
        "Use budget=41 or all_ops=True to see more.")
    assert as_argument("expand", ("d1",)) == "expand=('d1',)"


def test_a_note_in_the_magics_words():
    assert COLLAPSED.worded(as_flag) == (
        "Collapsed to 1 level(s) of layers/functions to stay within 25 nodes. "
        "Use --budget 41 or --all-ops to see more.")
    assert [as_flag("budget", 300), as_flag("all_ops", True), as_flag("values", False)] == \
        ["--budget 300", "--all-ops", "--no-values"]


def test_a_note_without_a_fix_is_its_text_in_every_voice():
    note = Note("recording", "This cell ran no TensorFlow op, so there is nothing to draw.")
    assert str(note) == note.worded(as_flag) == note.text


def test_the_recorders_notes_still_show_first_in_the_view():
    rec = example_1()
    rec.notes = ["Recording stopped after 20,000 ops; the cell ran on."]
    boxes = len(collapse.view(rec).boxes)
    drawing = tapeviz.show(rec, max_ops=1)
    assert [(n.kind, n.text, n.fixes) for n in drawing.notes] == [
        ("recording", "Recording stopped after 20,000 ops; the cell ran on.", ()),
        ("truncated", f"Showing the first 1 of {boxes} boxes ({len(rec.ops)} ops).", ())]
    assert "Recording stopped after 20,000 ops" in drawing.source
