"""Lesson pictures a learner can read: none wider than the notebook without a stated reason.

A Graphviz SVG wider than the notebook's column (about 900 px) is shrunk to fit, and its text
becomes too small to read. A picture that must be wide (two gradient calls side by side, say)
says why in a cell tag of the form ``wide-picture: <reason>`` (a tag may not contain commas).
"""

import re

import pytest

from tests.lesson_notebooks import LESSONS, code_cells, load, svg_outputs, tags

NOTEBOOK_WIDTH_PX = 900
PX_PER_UNIT = {"pt": 96 / 72, "px": 1.0, "": 1.0, "in": 96.0, "cm": 96 / 2.54, "mm": 96 / 25.4}
SVG_WIDTH = re.compile(r"<svg\b[^>]*?\bwidth=\"([\d.]+)([a-z]*)\"")
WIDE_TAG = re.compile(r"^wide-picture: \S.{8,}")


def width_px(svg: str) -> float:
    match = SVG_WIDTH.search(svg)
    assert match, f"no width on the SVG element: {svg[:200]!r}"
    return float(match.group(1)) * PX_PER_UNIT[match.group(2)]


def wide_reason(cell: dict) -> str | None:
    return next((tag for tag in tags(cell) if WIDE_TAG.match(tag)), None)


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda path: path.stem)
def test_no_picture_is_wider_than_the_notebook_without_a_reason(lesson):
    too_wide = [f"cell [{index}]: {width_px(svg):.0f} px"
                for index, cell in code_cells(load(lesson)) if not wide_reason(cell)
                for svg in svg_outputs(cell) if width_px(svg) > NOTEBOOK_WIDTH_PX]
    assert not too_wide, (f"{lesson.name}: pictures wider than {NOTEBOOK_WIDTH_PX} px; draw "
                          "less (--no-backward, --depth, --no-values) or tag the cell "
                          "'wide-picture: <why it must be wide>':\n" + "\n".join(too_wide))


@pytest.mark.parametrize(("svg", "expected"), [
    ('<svg width="675pt" height="10pt"', 900.0),
    ('<svg xmlns="x" width="1000px" height="10px"', 1000.0),
    ('<svg width="300" height="10"', 300.0),
])
def test_width_px_reads_graphviz_units(svg, expected):
    assert width_px(svg) == pytest.approx(expected)


def test_a_reason_tag_needs_a_reason():
    assert wide_reason({"metadata": {"tags": ["wide-picture: two tapes side by side"]}})
    assert not wide_reason({"metadata": {"tags": ["wide-picture"]}})
    assert not wide_reason({"metadata": {"tags": ["wide-picture: ok"]}})
