"""The real-code corpus (tests/corpus/): every cell runs the same plain and under ``%%tape``.

The corpus runs in one subprocess of its own (fresh IPython shells, fresh global state, see
tests/corpus/runner.py); each corpus file is one test here, and its failures name the cell.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .corpus.runner import CellRun, cells, compare, corpus_files, mask

ROOT = Path(__file__).parent.parent
FILES = corpus_files()


def start_corpus(folder: Path) -> tuple[subprocess.Popen, Path]:
    """Start the whole corpus in its own process, writing its report into ``folder``.

    tests/conftest.py starts it once the browser tests are over, so it runs on the second core
    while nbval and the unit tests run on the first.
    """
    out = folder / "reports.json"
    log = (folder / "runner.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "tests.corpus.runner", "--quiet",
                                "--json", str(out)], cwd=ROOT, stdout=log,
                               stderr=subprocess.STDOUT)
    return process, out


@pytest.fixture(scope="session")
def corpus_reports(request, tmp_path_factory):
    """file name -> report, from one run of the whole corpus."""
    started = getattr(request.config, "tapeviz_corpus", None)
    process, out = started or start_corpus(tmp_path_factory.mktemp("corpus"))
    try:
        process.wait(timeout=900)
    finally:
        process.kill()
    log = (out.parent / "runner.log").read_text()
    assert out.exists(), f"the corpus runner crashed:\n{log[-6000:]}"
    return {report["file"]: report for report in json.loads(out.read_text())}


def test_the_corpus_has_at_least_150_cells():
    assert sum(len(cells(path)) for path in FILES) >= 150


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_cells_run_the_same_plain_and_under_tape(corpus_reports, path):
    report = corpus_reports[path.name]
    assert report["cells"] == len(cells(path))
    problems = [f"{path.name} cell {f['cell']} [{f['check']}]:\n{f['detail']}\n"
                f"--- cell source ---\n{f['source']}" for f in report["failures"]]
    assert not problems, f"{len(problems)} difference(s):\n\n" + "\n\n".join(problems)


def test_the_runner_reports_each_kind_of_difference(tmp_path):
    notebook = tmp_path / "nb.py"
    notebook.write_text("# header\n# %%\nx = 1\n# %%\nx\n")
    assert cells(notebook) == ["x = 1", "x"]
    same = CellRun("out", "err", "1", "", {"x": "int:1"}, ["shown"])
    plain = [same, same]
    taped = [CellRun("out!", "err!", "2", "ValueError: v", {"x": "int:2", "y": "int"}, [],
                     ran_ops=True, graph_shown=False, hooks_kept=False),
             CellRun("out", "err", "1", "", {"x": "int:1"}, ["shown", "tapeviz note"],
                     tape_bound=False)]
    found = [(f.cell, f.check) for f in compare(notebook, plain, taped)]
    assert found == [(1, "error"), (1, "stdout"), (1, "stderr"), (1, "value"),
                     (1, "namespace x"), (1, "namespace y"), (1, "displays"), (1, "graph"),
                     (1, "hooks"), (2, "graph")]


def test_timings_addresses_and_progress_bar_redraws_are_masked():
    bar = "Epoch 1/2\n\r1/2 \x1b[1m1s\x1b[0m 30ms/step\x08\x08\r2/2 0s 2ms/step - loss: 0.5  \n"
    assert mask(bar) == "Epoch 1/2\n2/2 <time> <time> - loss: 0.5\n"
    assert mask("<History at 0x7f3a9c>") == "<History at 0x...>"
