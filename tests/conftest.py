"""Shared fixtures: a real IPython shell with tapeviz loaded, and quiet TensorFlow."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pytest  # noqa: E402

# tests that wait for a check started in the background (pytest_collection_finish)
WAITING = ("tests/test_binder.py::", "tests/test_corpus.py::", "tests/test_hub.py::")


def pytest_collection_modifyitems(items):
    """The tests that wait for a background check run last (in their order), so that while the
    check finishes the other tests run instead of waiting with it."""
    items.sort(key=lambda item: item.nodeid.startswith(WAITING))


def pytest_collection_finish(session):
    """Start the slow checks that wait on other processes (see tests/background.py) early.

    The Binder install and the lessons' solution runs start in threads now; the real-code
    corpus (its own process) and the JupyterHub class once the browser tests are over. Each
    starts only when its tests were collected, and a lesson's solutions only when its
    JupyterLab run (which runs them too) will not.
    """
    ids = [item.nodeid for item in session.items]
    after_browser = session.config.tapeviz_after_browser = []  # see pytest_runtest_setup
    if any(i.startswith("tests/test_corpus.py::test_cells_run_the_same") for i in ids):
        after_browser.append(_start_corpus)

    from .background import Job

    jobs = session.config.tapeviz_jobs = {}
    if "tests/test_binder.py::test_binder_install_runs_a_lesson" in ids:
        from .test_binder import binder_check

        jobs["binder"] = Job.start(binder_check)
    if "tests/test_hub.py::test_a_class_of_two_on_jupyterhub" in ids:
        after_browser.append(_start_hub)
    lessons = [item.callspec.params["lesson"] for item in session.items
               if item.nodeid.startswith("tests/test_lesson_exercises.py::"
                                         "test_solutions_pass_their_checks")]
    lessons = [lesson for lesson in lessons if lesson.name not in solved_in_browser(session)]
    if lessons:
        from .test_lesson_exercises import solution_runs

        jobs["solutions"] = Job.start(solution_runs, lessons)


def pytest_runtest_setup(item):
    """Start the real-code corpus (a process) and the JupyterHub class (a thread) once the
    browser tests are over.

    They then share the machine with nbval and the unit tests, which leave the second core
    mostly idle, rather than with the browser's server and kernels, which keep both busy; and
    each of the hub's waits stays well inside its own time limit.
    """
    starters = getattr(item.config, "tapeviz_after_browser", None)
    if starters and not item.nodeid.startswith("tests/e2e/"):
        item.config.tapeviz_after_browser = []
        for start in starters:
            start(item.config)


def _start_corpus(config: pytest.Config) -> None:
    import tempfile
    from pathlib import Path

    from .test_corpus import start_corpus

    config.tapeviz_corpus = start_corpus(Path(tempfile.mkdtemp(prefix="tapeviz-corpus-")))


def _start_hub(config: pytest.Config) -> None:
    from .background import Job
    from .test_hub import class_check, missing

    if not missing():  # else the test says why it cannot run
        config.tapeviz_jobs["hub"] = Job.start(class_check)


def solved_in_browser(session: pytest.Session) -> set[str]:
    """The lessons whose JupyterLab run (tests/e2e/test_lab.py) also runs their solutions."""
    from .e2e.jupyter import browser_missing

    if browser_missing():
        return set()
    return {item.callspec.params["lesson"].name for item in session.items
            if item.nodeid.startswith("tests/e2e/test_lab.py::"
                                      "test_lesson_runs_and_draws_every_tape_cell")}


@pytest.fixture(scope="session")
def ipython():
    """The test IPython shell (a singleton), with ``%load_ext tapeviz`` and ``tf`` ready."""
    from IPython.testing.globalipapp import start_ipython

    shell = start_ipython()
    shell.run_line_magic("load_ext", "tapeviz")
    shell.run_cell("import tensorflow as tf")
    return shell


@pytest.fixture
def run_tape(ipython):
    """Run ``%%tape OPTIONS`` on a cell; return (Recording, ExecutionResult, captured output)."""
    from IPython.utils.capture import capture_output

    def run(cell: str, options: str = "--quiet"):
        with capture_output() as captured:
            result = ipython.run_cell(f"%%tape {options}\n{cell}")
        return ipython.user_ns["_tape"], result, captured

    return run


def notes_of(captured) -> str:
    """The text of tapeviz's note under the picture (a display output), or "" if none."""
    notes = [o.data["text/plain"] for o in captured.outputs
             if o.data.get("text/html", "").startswith('<div class="tapeviz-notes"')]
    assert len(notes) <= 1, "tapeviz shows at most one note per cell"
    return notes[0] if notes else ""
