"""Shared fixtures: a real IPython shell with tapeviz loaded, and quiet TensorFlow."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pytest  # noqa: E402


def pytest_collection_finish(session):
    """Start the real-code corpus early (in its own process) when its tests will run."""
    if any(item.nodeid.startswith("tests/test_corpus.py::test_cells_run_the_same")
           for item in session.items):
        import tempfile
        from pathlib import Path

        from .test_corpus import start_corpus

        folder = Path(tempfile.mkdtemp(prefix="tapeviz-corpus-"))
        session.config.tapeviz_corpus = start_corpus(folder)


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
