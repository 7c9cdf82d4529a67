"""The replay captions the lessons print are those of ``tapeviz.replay_steps`` on their own cells.

nbval compares a lesson's stored outputs with a fresh run, but not with what the text around
them explains. Here each caption cell's stored stdout is compared, link by link, with the
replay of the ``%%tape`` cell above it, run again as a plain ``tapeviz.record()`` block; and
the captions that the lessons' text reads out (the seed examples' 6.0 and 9.8) are pinned.
"""

import contextlib
import io

import numpy as np
import pytest
import tensorflow as tf

import tapeviz
from tests.lesson_notebooks import LESSONS_DIR, load, source, stdout

CAPTION_CELLS = [
    ("03_gradient_tape", "replay-nested-steps"),
    ("04_chain_rule_on_the_graph", "replay-x-squared-steps"),
    ("04_chain_rule_on_the_graph", "cell-06"),
    ("04_chain_rule_on_the_graph", "replay-neuron-steps"),
]


def cells_until(lesson: str, cell_id: str) -> tuple[dict, dict]:
    """The cell ``cell_id`` of ``lesson`` and the last ``%%tape`` cell before it."""
    cells = load(LESSONS_DIR / f"{lesson}.ipynb")["cells"]
    index = next(i for i, cell in enumerate(cells) if cell.get("id") == cell_id)
    taped = next(cell for cell in reversed(cells[:index])
                 if cell["cell_type"] == "code" and source(cell).startswith("%%tape"))
    return cells[index], taped


def replayed(cell: dict) -> list[tuple[int, str]]:
    """(step index, link) for each link of each caption of the ``%%tape`` cell, run again."""
    code = source(cell).split("\n", 1)[1]
    namespace = {"tf": tf, "np": np}
    with contextlib.redirect_stdout(io.StringIO()), tapeviz.record(namespace) as rec:
        exec(code, namespace)
    return [(step.index, link) for step in tapeviz.replay_steps(rec)
            for link in step.caption.split("; ")]


def printed(text: str) -> list[tuple[int, str]]:
    """(step index, link) as a lesson prints them: "3 link; link", an indented line a link more.

    >>> printed("0 a = 1.0\\n  b = 2.0\\n1 c = 3.0; d = 4.0\\n")
    [(0, 'a = 1.0'), (0, 'b = 2.0'), (1, 'c = 3.0'), (1, 'd = 4.0')]
    """
    links, index = [], -1
    for line in text.splitlines():
        if not line.startswith(" "):
            number, line = line.split(" ", 1)
            index = int(number)
        links += [(index, link) for link in line.strip().split("; ")]
    return links


@pytest.mark.parametrize(("lesson", "cell_id"), CAPTION_CELLS,
                         ids=[f"{lesson[:2]}-{cell}" for lesson, cell in CAPTION_CELLS])
def test_a_lesson_prints_the_replay_of_its_cell(lesson, cell_id):
    captions, taped = cells_until(lesson, cell_id)
    assert "tapeviz.replay_steps(_tape)" in source(captions)
    assert printed(stdout(captions)) == replayed(taped)


def test_lesson_04_reads_seed_example_1_as_upstream_times_local():
    captions, _ = cells_until("04_chain_rule_on_the_graph", "replay-x-squared-steps")
    assert printed(stdout(captions)) == [
        (0, "d result / d input_var = 1.0 × 2·input_var = 1.0 × 6.0 = 6.0"),
        (1, "d result / d input_var = 6.0 × 1 = 6.0")]


def test_lesson_03_reads_seed_example_2_as_9_8_via_9_8_t():
    captions, _ = cells_until("03_gradient_tape", "replay-nested-steps")
    links = dict(printed(stdout(captions)))
    assert links[3] == ("inner_tape.gradient(position, time) computed speed = 9.8·time¹: "
                        "d speed / d time¹ = 1.0 × 9.8 = 9.8")
    assert links[5] == "d speed / d time = 9.8 × 1 = 9.8"
