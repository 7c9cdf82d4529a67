"""In JupyterLab: every lesson runs and draws its graphs; the SGDStepper works by its buttons."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from tests.e2e.jupyter import (
    LESSONS,
    RESULTS,
    NotebookPage,
    StepperWidget,
    artefacts_on_failure,
    bullets,
    kernel_message_problems,
    notebook_problems,
)

pytestmark = pytest.mark.e2e

# Every lesson present when the tests run (they are being written: none is listed by hand).
LESSON_FILES = sorted(LESSONS.glob("[0-9][0-9]_*.ipynb"))
# A lesson may train a model: generous, but a hung lesson must not eat the CI budget.
LESSON_TIMEOUT = float(os.environ.get("TAPEVIZ_E2E_LESSON_TIMEOUT", "180"))


@pytest.mark.parametrize("lesson", LESSON_FILES, ids=lambda path: path.stem)
def test_lesson_runs_and_draws_every_tape_cell(lesson: Path, page, jupyter_server, stage):
    with artefacts_on_failure(page, jupyter_server, f"lab-{lesson.stem}"):
        notebook = NotebookPage(page, jupyter_server, stage(lesson, "lessons"))
        notebook.open()
        run = notebook.run_all(timeout=LESSON_TIMEOUT)
        problems = notebook_problems(run)
        notebook.show_first_problem(problems)
        assert not problems, f"{lesson.name} in JupyterLab:\n{bullets(problems)}"
    first_graph = run.tape_cells[0].index if run.tape_cells else None
    notebook.screenshot(RESULTS / "screenshots" / f"lab-{lesson.stem}.png", cell=first_graph)


def test_stepper_buttons_step_play_pause_and_reset(page, jupyter_server, stage):
    notebook = NotebookPage(page, jupyter_server, stage("stepper.ipynb", "lab"))
    with artefacts_on_failure(page, jupyter_server, "lab-stepper"):
        notebook.open()
        run = notebook.run_all()
        problems = notebook_problems(run)
        notebook.show_first_problem(problems)
        assert not problems, f"stepper fixture in JupyterLab:\n{bullets(problems)}"
        assert len(run.tape_cells) == 1

        stepper = StepperWidget(notebook.cell(len(run.cells) - 2))  # the cell before the sentinel
        assert stepper.status().step is None, stepper.status().text
        plots = stepper.plot_images()
        assert len(plots) >= 3 and all(plot["naturalWidth"] > 0 for plot in plots), plots

        stepper.button("Step").click()
        first = stepper.wait_for_status(r"^step 1 \(")
        assert first.loss is not None, first.text
        stepper.wait_for_redraw(plots[0]["src"])  # the loss plot, after the status line
        stepper.button("Step").click()
        second = stepper.wait_for_status(r"^step 2 \(")
        assert second.loss != first.loss, (first.text, second.text)

        stepper.button(re.compile("Play")).click()
        stepper.button(re.compile("Pause")).wait_for()
        stepper.wait_for_status(r"^step ([5-9]|\d\d+) \(")  # it plays by itself
        stepper.button(re.compile("Pause")).click()
        stepper.button(re.compile("Play")).wait_for()
        paused = stepper.status()
        time.sleep(1.0)  # at 10 steps/s a still-running loop would move ~10 steps meanwhile
        assert stepper.status().step == paused.step, "still stepping after Pause"

        stepper.button("Reset").click()
        stepper.wait_for_status(r"^No steps yet")
        stepper.button("Step").click()
        again = stepper.wait_for_status(r"^step 1 \(")
        assert again.loss == first.loss, ("Reset did not restore the first loss",
                                          first.text, again.text)

        callbacks = kernel_message_problems(notebook.collect().kernel_messages)
        assert not callbacks, f"widget callbacks:\n{bullets(callbacks)}"
    notebook.screenshot(RESULTS / "screenshots" / "lab-stepper.png", cell=len(run.cells) - 2)
