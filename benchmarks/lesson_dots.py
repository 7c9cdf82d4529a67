"""Dump the DOT (and summary) of every ``%%tape`` cell of the lessons, to compare two versions.

Runs each lesson's code cells in order in one IPython shell (names reset between lessons) and
writes ``<lesson>-<cell>.dot`` and ``.txt`` (``_tape.summary()``) into OUT_DIR:

    PYTHONPATH=$PWD .venv/bin/python benchmarks/lesson_dots.py /tmp/dots-new
    diff -r /tmp/dots-old /tmp/dots-new   # after the same run on the other version
"""

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

LESSONS = Path(__file__).resolve().parent.parent / "lessons"


def main(out_dir: str) -> None:
    from IPython.testing.globalipapp import start_ipython
    from IPython.utils.capture import capture_output

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    shell = start_ipython()
    shell.run_line_magic("load_ext", "tapeviz")
    os.chdir(LESSONS)
    for notebook in sorted(LESSONS.glob("*.ipynb")):
        shell.run_line_magic("reset", "-f")
        cells = [c for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code"]
        for number, cell in enumerate(cells):
            source = "".join(cell["source"])
            with capture_output():
                shell.run_cell(source)
            if source.startswith("%%tape"):
                rec = shell.user_ns["_tape"]
                stem = out / f"{notebook.stem}-{number:02d}"
                stem.with_suffix(".dot").write_text(rec.to_dot())
                stem.with_suffix(".txt").write_text(rec.summary() + "\n")
                print(stem.name, len(rec.ops), "ops")


if __name__ == "__main__":
    main(sys.argv[1])
