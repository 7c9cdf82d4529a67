"""In Notebook 7 (``/tree``, ``/notebooks/...``): the smoke flow, once.

The same server serves it: ``python -m jupyterlab`` loads Notebook 7's server extension.
"""

from __future__ import annotations

import pytest

from tests.e2e.jupyter import (
    RESULTS,
    NotebookPage,
    StepperWidget,
    artefacts_on_failure,
    bullets,
    kernel_message_problems,
    notebook_problems,
)

pytestmark = pytest.mark.e2e


def test_notebook7_opens_from_tree_runs_draws_and_steps(page, jupyter_server, stage):
    path = stage("stepper.ipynb", "notebook7")
    with artefacts_on_failure(page, jupyter_server, "notebook7-stepper"):
        page.goto(jupyter_server.url("tree/notebook7"))
        listed = page.locator(".jp-DirListing-item", has_text="stepper.ipynb")
        with page.context.expect_page() as opened:  # Notebook 7 opens notebooks in a new tab
            listed.dblclick()
        tab = opened.value
        tab.wait_for_url("**/notebooks/notebook7/stepper.ipynb*")
        notebook = NotebookPage(tab, jupyter_server, path, ui="notebook").open(navigate=False)
        run = notebook.run_all()
        problems = notebook_problems(run)
        notebook.show_first_problem(problems)
        assert not problems, f"stepper fixture in Notebook 7:\n{bullets(problems)}"
        assert len(run.tape_cells) == 1

        stepper = StepperWidget(notebook.cell(len(run.cells) - 2))
        stepper.button("Step").click()
        first = stepper.wait_for_status(r"^step 1 \(")
        assert first.loss is not None, first.text
        callbacks = kernel_message_problems(notebook.collect().kernel_messages)
        assert not callbacks, f"widget callbacks:\n{bullets(callbacks)}"
    notebook.screenshot(RESULTS / "screenshots" / "notebook7-stepper.png",
                        cell=run.tape_cells[0].index)
