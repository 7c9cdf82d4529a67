"""In JupyterLab: every button of the SGDStepper changes what is shown within 2 seconds.

That includes a burst of Step clicks (one coalesced redraw, not one per click) and "Step and
show its tape", whose graph must appear in the widget's output.
"""

from __future__ import annotations

import re

import pytest

from tests.e2e.jupyter import (
    NotebookPage,
    StepperWidget,
    artefacts_on_failure,
    bullets,
    kernel_message_problems,
    notebook_problems,
)

pytestmark = pytest.mark.e2e

SHOWN_WITHIN = 2.0  # seconds from a click to a visible change
BATCHES = 16  # the fixture: 2,000 points in batches of 128


def test_every_stepper_button_shows_its_effect_within_2_s(page, jupyter_server, stage):
    notebook = NotebookPage(page, jupyter_server, stage("stepper.ipynb", "lab-clicks"))
    with artefacts_on_failure(page, jupyter_server, "lab-stepper-clicks"):
        notebook.open()
        run = notebook.run_all()
        problems = notebook_problems(run)
        assert not problems, f"stepper fixture in JupyterLab:\n{bullets(problems)}"
        cell = notebook.cell(len(run.cells) - 2)  # the cell before the sentinel
        stepper = StepperWidget(cell)
        numbers = cell.locator(".widget-html-content", has_text="Take a step")
        numbers.wait_for()

        def shown(pattern: str) -> None:
            stepper.wait_for_status(pattern, timeout=SHOWN_WITHIN)

        loss_plot = stepper.plot_images()[0]["src"]
        stepper.button("Step").click()
        shown(r"^step 1 \(")
        stepper.wait_for_redraw(loss_plot, timeout=SHOWN_WITHIN)
        update = cell.locator(".widget-html-content", has_text="Δw (as applied)")
        update.wait_for(timeout=SHOWN_WITHIN * 1000)
        assert "w ← w − lr·g" in update.inner_text()

        for _ in range(5):  # a burst: each click is handled, the plots catch up once
            stepper.button("Step").click()
        shown(r"^step 6 \(")
        loss_plot = stepper.plot_images()[0]["src"]

        stepper.button("Epoch").click()
        shown(rf"^step {BATCHES} \(epoch 0, batch {BATCHES - 1}\)")
        stepper.wait_for_redraw(loss_plot, timeout=SHOWN_WITHIN)

        stepper.button(re.compile("Play")).click()
        stepper.button(re.compile("Pause")).wait_for(timeout=SHOWN_WITHIN * 1000)
        shown(rf"^step (?!{BATCHES} )\d+ \(")  # it has moved on by itself
        stepper.button(re.compile("Pause")).click()
        stepper.button(re.compile("Play")).wait_for(timeout=SHOWN_WITHIN * 1000)

        stepper.button("Reset").click()
        shown(r"^No steps yet")

        cell.get_by_text("%%tape graph of one step").click()  # open the accordion
        stepper.button("Step and show its tape").click()
        shown(r"^step 1 \(")
        graph = cell.locator(".widget-output [data-mime-type='image/svg+xml'] img")
        graph.first.wait_for(timeout=SHOWN_WITHIN * 1000)
        assert graph.first.evaluate("img => img.naturalWidth") > 0

        callbacks = kernel_message_problems(notebook.collect().kernel_messages)
        assert not callbacks, f"widget callbacks:\n{bullets(callbacks)}"
