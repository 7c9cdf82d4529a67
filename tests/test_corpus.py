"""The real-code corpus (tests/corpus/): every cell runs the same plain and under ``%%tape``.

The corpus runs in one subprocess of its own (fresh IPython shells, fresh global state, see
tests/corpus/runner.py); each corpus file is one test here, and its failures name the cell.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .corpus.runner import cells, corpus_files

ROOT = Path(__file__).parent.parent
FILES = corpus_files()


@pytest.fixture(scope="session")
def corpus_reports(tmp_path_factory):
    """file name -> report, from one run of the whole corpus."""
    out = tmp_path_factory.mktemp("corpus") / "reports.json"
    run = subprocess.run([sys.executable, "-m", "tests.corpus.runner", "--quiet", "--json",
                          str(out)], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert out.exists(), f"the corpus runner crashed:\n{run.stdout[-3000:]}{run.stderr[-3000:]}"
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
