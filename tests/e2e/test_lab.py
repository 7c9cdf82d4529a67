"""In JupyterLab: every lesson runs and draws its graphs; the SGDStepper works by its buttons,
each showing its effect within 2 seconds.

A lesson's run here is also the run of its solutions: after the lesson as stored, each
exercise's solution and then its check cell again run in the same kernel, and what those
checks print is handed to ``tests/test_lesson_exercises.py::test_solutions_pass_their_checks``
(one kernel per lesson for both tests instead of two). The lessons run one ahead
(:class:`LessonRuns`): the next lesson's kernel works while a test checks the current one.
The two stepper tests share one run of ``notebooks/stepper.ipynb`` (:class:`SharedRun`); the
second starts from Reset.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.jupyter import (
    FIXTURES,
    LESSONS,
    RESULTS,
    JupyterServer,
    NotebookPage,
    NotebookRun,
    StepperWidget,
    artefacts_on_failure,
    bullets,
    kernel_message_problems,
    notebook_problems,
    stage_notebook,
    stdout_text,
)
from tests.test_lesson_exercises import record_solved, solution_cells

pytestmark = pytest.mark.e2e

# Every lesson present when the tests run (they are being written: none is listed by hand).
LESSON_FILES = sorted(LESSONS.glob("[0-9][0-9]_*.ipynb"))
# A lesson may train a model: generous, but a hung lesson must not eat the CI budget.
LESSON_TIMEOUT = float(os.environ.get("TAPEVIZ_E2E_LESSON_TIMEOUT", "180"))
SHOWN_WITHIN = 2.0  # seconds from a click to a visible change
BATCHES = 16  # the fixture: 2,000 points in batches of 128


class LessonRuns:
    """The lessons' "run all" in JupyterLab, one lesson ahead of the tests that check them.

    Each lesson has a browser context, a JupyterLab workspace and a fresh kernel of its own, as
    if it ran alone; only its start is earlier: :meth:`run` starts the next lesson before it
    waits for the one asked for, so that kernel works while the test checks this one.
    """

    def __init__(self, browser: Any, server: JupyterServer, root: Path, lessons: list[Path]):
        self.browser, self.server, self.root, self.lessons = browser, server, root, lessons
        self.notebooks: dict[Path, NotebookPage] = {}
        self.errors: dict[Path, Exception] = {}  # a start that failed, for its lesson's test
        self.solved: dict[Path, list] = {}

    def notebook(self, lesson: Path) -> NotebookPage:
        """The lesson's page, its run started (a failed start is raised by :meth:`run`)."""
        if lesson in self.notebooks:
            return self.notebooks[lesson]
        context = self.browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(30_000)
        path = f"lessons/{lesson.name}"
        notebook = self.notebooks[lesson] = NotebookPage(context.new_page(), self.server, path,
                                                         workspace=lesson.stem)
        try:
            self.solved[lesson] = solution_cells(lesson)  # run after the lesson; see the top
        except AssertionError:  # an incomplete exercise: its own tests say so
            self.solved[lesson] = []
        try:  # a lesson that is not valid JSON yet fails only its own test
            stage_notebook(lesson, self.root / path, self.solved[lesson])
            notebook.open()
            notebook.start_run_all()
        except Exception as error:
            self.errors[lesson] = error
        return notebook

    def run(self, lesson: Path) -> NotebookRun:
        """Start the next lesson, then wait for this one's run and collect it."""
        notebook = self.notebook(lesson)
        following = self.lessons[self.lessons.index(lesson) + 1:]
        if following:
            self.notebook(following[0])
        if lesson in self.errors:
            raise self.errors.pop(lesson)
        return notebook.wait_for_run(timeout=LESSON_TIMEOUT)

    def close(self, lesson: Path) -> None:
        """Close the lesson's page and stop its kernel (the next lesson's runs on)."""
        notebook = self.notebooks.pop(lesson)
        notebook.page.context.close()
        self.server.shutdown_kernels(notebook.path, wait=False)


@pytest.fixture(scope="module")
def lesson_runs(request, browser, jupyter_server: JupyterServer,
                e2e_root: Path) -> Iterator[LessonRuns]:
    selected = [item.callspec.params["lesson"] for item in request.session.items
                if getattr(item, "function", None) is test_lesson_runs_and_draws_every_tape_cell]
    runs = LessonRuns(browser, jupyter_server, e2e_root, selected)
    try:
        yield runs
    finally:
        for lesson in list(runs.notebooks):
            runs.close(lesson)


@pytest.mark.parametrize("lesson", LESSON_FILES, ids=lambda path: path.stem)
def test_lesson_runs_and_draws_every_tape_cell(lesson: Path, lesson_runs: LessonRuns,
                                               jupyter_server, request):
    """The lesson, then its solutions, run to the end with no problem (notebook_problems:
    errors, stray stderr, cells not run, every ``%%tape`` graph drawn); what the solutions'
    checks print is judged by test_solutions_pass_their_checks."""
    notebook = lesson_runs.notebook(lesson)
    try:
        with artefacts_on_failure(notebook.page, jupyter_server, f"lab-{lesson.stem}"):
            run = lesson_runs.run(lesson)
            solved = lesson_runs.solved[lesson]
            if run.finished and solved:
                first = len(run.cells) - 1 - len(solved)  # the first solution cell
                checks = run.cells[first + 1:first + len(solved):2]
                record_solved(request.config, lesson, [stdout_text(cell) for cell in checks])
            problems = notebook_problems(run)
            notebook.show_first_problem(problems)
            assert not problems, f"{lesson.name} in JupyterLab:\n{bullets(problems)}"
        first_graph = run.tape_cells[0].index if run.tape_cells else None
        notebook.screenshot(RESULTS / "screenshots" / f"lab-{lesson.stem}.png",
                            cell=first_graph)
    finally:
        lesson_runs.close(lesson)


class SharedRun:
    """One notebook's page and its one "run all", made by the first test that asks for it."""

    def __init__(self, notebook: NotebookPage):
        self.notebook = notebook
        self._run: NotebookRun | None = None

    def run(self) -> NotebookRun:
        if self._run is None:
            self.notebook.open()
            self._run = self.notebook.run_all()
        return self._run


@pytest.fixture(scope="module")
def lab_stepper(browser, jupyter_server: JupyterServer, e2e_root: Path) -> Iterator[SharedRun]:
    """``notebooks/stepper.ipynb`` in JupyterLab, for both stepper tests (one kernel)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    path = "lab/stepper.ipynb"
    stage_notebook(FIXTURES / "stepper.ipynb", e2e_root / path)
    try:
        yield SharedRun(NotebookPage(context.new_page(), jupyter_server, path))
    finally:
        context.close()
        jupyter_server.shutdown_kernels(path, wait=False)


def test_stepper_buttons_step_play_pause_and_reset(lab_stepper: SharedRun, jupyter_server):
    notebook = lab_stepper.notebook
    with artefacts_on_failure(notebook.page, jupyter_server, "lab-stepper"):
        run = lab_stepper.run()
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


def test_every_stepper_button_shows_its_effect_within_2_s(lab_stepper: SharedRun,
                                                           jupyter_server):
    """Including a burst of Step clicks (one coalesced redraw, not one per click) and "Step and
    show its tape", whose graph must appear in the widget's output."""
    notebook = lab_stepper.notebook
    with artefacts_on_failure(notebook.page, jupyter_server, "lab-stepper-clicks"):
        run = lab_stepper.run()
        problems = notebook_problems(run)
        assert not problems, f"stepper fixture in JupyterLab:\n{bullets(problems)}"
        cell = notebook.cell(len(run.cells) - 2)  # the cell before the sentinel
        stepper = StepperWidget(cell)
        stepper.button("Reset").click()  # from no steps, whatever the test before did
        stepper.wait_for_status(r"^No steps yet")
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
