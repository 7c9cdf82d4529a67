"""The interactive view (GraphView) in JupyterLab and in Notebook 7, used as a learner would.

One notebook flow per front end: pan and zoom change the view box, a click on a layer box
opens it (more nodes), hovering a tensor shows its value, search marks a name, replay Next
moves the highlight and shows the caption ``replay_steps(rec)`` has; then the saved notebook,
reopened after its kernel is gone, still shows the SVG.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.e2e.jupyter import (
    RESULTS,
    SVG_IMAGES,
    NotebookPage,
    artefacts_on_failure,
    bullets,
    kernel_message_problems,
    notebook_problems,
    output_text,
)

pytestmark = pytest.mark.e2e

VIEW_CELL, CAPTIONS_CELL = 2, 3  # in notebooks/view.ipynb


def captions(run) -> list[str]:
    """What ``replay_steps(rec)`` says in the kernel, printed by the fixture's last cell."""
    text = "".join(output_text(out) for out in run.cells[CAPTIONS_CELL].outputs)
    return json.loads(re.search(r"^CAPTIONS (.*)$", text, re.M).group(1))


def view_box(stage) -> list[float]:
    return [float(v) for v in stage.locator("svg").get_attribute("viewBox").split()]


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_view_pans_zooms_opens_a_layer_shows_values_replays_and_saves(ui, page, jupyter_server,
                                                                      stage):
    from playwright.sync_api import expect

    path = stage("view.ipynb", f"view-{ui}")
    with artefacts_on_failure(page, jupyter_server, f"{ui}-view"):
        notebook = NotebookPage(page, jupyter_server, path, ui=ui).open()
        run = notebook.run_all()
        problems = notebook_problems(run)
        notebook.show_first_problem(problems)
        assert not problems, f"view fixture in {ui}:\n{bullets(problems)}"
        expected = captions(run)
        assert len(expected) >= 2, expected

        cell = notebook.cell(VIEW_CELL)
        widget = cell.locator(".tv-view")
        graph = widget.locator(".tv-stage")
        expect(graph.locator("svg g.node").first).to_be_attached()
        expect(cell.locator(SVG_IMAGES)).to_be_hidden()  # the static twin, while live
        graph.scroll_into_view_if_needed()

        before = view_box(graph)
        graph.hover()
        page.mouse.wheel(0, -400)
        zoomed = view_box(graph)
        assert zoomed[2] < before[2], (before, zoomed)  # narrower: zoomed in
        box = graph.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] / 2 - 120, box["y"] + box["height"] / 2, steps=5)
        page.mouse.up()
        panned = view_box(graph)
        assert panned[0] > zoomed[0] and panned[2] == zoomed[2], (zoomed, panned)
        widget.get_by_role("button", name="Fit to width").click()

        nodes = graph.locator("svg g.node")
        closed = nodes.count()
        graph.locator("g.node.tv-group", has_text="dense (Dense)").first.click()
        expect(widget.get_by_role("button", name="dense ×")).to_be_visible()
        assert nodes.count() > closed
        expect(graph.locator("g.node", has_text="MatMul").first).to_be_attached()

        named_x = page.locator("text", has_text=re.compile(r"^x$"))
        graph.locator("g.node.tv-tensor").filter(has=named_x).first.hover()
        details = widget.locator(".tv-details")
        expect(details).to_contain_text("[[1.0 2.0]]")

        widget.locator(".tv-search").fill("loss")
        expect(graph.locator("g.node.tv-match")).not_to_have_count(0)
        assert "loss" in graph.locator("g.node.tv-match").first.text_content()
        widget.locator(".tv-search").fill("")

        widget.get_by_role("button", name="Replay backward").click()
        caption = widget.locator(".tv-caption")
        expect(caption).to_have_text(expected[0])
        first = graph.locator("g.node.tv-r-op").evaluate_all("gs => gs.map(g => g.dataset.tvId)")
        widget.get_by_role("button", name=re.compile("Next")).click()
        expect(caption).to_have_text(expected[1])
        expect(widget.locator(".tv-counter")).to_have_text(f"step 2 of {len(expected)}")
        second = graph.locator("g.node.tv-r-op").evaluate_all(
            "gs => gs.map(g => g.dataset.tvId)")
        lit = graph.locator(".tv-r-op, .tv-r-up, .tv-r-local, .tv-r-down")
        assert second and lit.count() >= 2, (first, second)
        callbacks = kernel_message_problems(notebook.collect().kernel_messages)
        assert not callbacks, f"widget callbacks:\n{bullets(callbacks)}"
        notebook.screenshot(RESULTS / "screenshots" / f"{ui}-view.png", cell=VIEW_CELL)

        page.evaluate("() => jupyterapp.commands.execute('docmanager:save')")
        saved = jupyter_server.root / path
        stored = _outputs_when_saved(saved, VIEW_CELL)
        assert "image/svg+xml" in stored[0]["data"], stored
        assert "application/vnd.jupyter.widget-view+json" in stored[1]["data"], stored

        jupyter_server.shutdown_kernels()
        reopened = NotebookPage(page.context.new_page(), jupyter_server, path, ui=ui)
        reopened.page.goto(reopened.url)
        picture = reopened.cell(VIEW_CELL).locator(SVG_IMAGES)
        expect(picture).to_be_visible(timeout=60_000)
        assert picture.evaluate("img => img.decode().then(() => img.naturalWidth)") > 0
        reopened.screenshot(RESULTS / "screenshots" / f"{ui}-view-reopened.png",
                            cell=VIEW_CELL)


def _outputs_when_saved(path, index: int, timeout: float = 30) -> list[dict]:
    """The stored outputs of cell ``index`` once the save has written them."""
    import time

    import nbformat

    deadline = time.monotonic() + timeout
    while True:
        outputs = nbformat.read(path, as_version=4).cells[index].outputs
        if len(outputs) >= 2 or time.monotonic() > deadline:
            return outputs
        time.sleep(0.25)
