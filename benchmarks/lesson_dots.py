"""Dump the DOT (and summary) of every ``%%tape`` cell of the lessons, to compare two versions.

Runs each lesson's code cells in order in one IPython shell (names reset between lessons) and
writes ``<lesson>-<cell>.dot`` and ``.txt`` (``_tape.summary()``) into OUT_DIR. With
``--corpus``, does the same for every cell of the real-code corpus (``tests/corpus``), each
cell under ``%%tape`` as the corpus runner runs it:

    PYTHONPATH=$PWD .venv/bin/python benchmarks/lesson_dots.py /tmp/dots-new [--corpus]
    diff -r /tmp/dots-old /tmp/dots-new   # after the same run on the other version
"""

import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

ROOT = Path(__file__).resolve().parent.parent
LESSONS = ROOT / "lessons"


def dump(shell, out: Path, stem: str) -> None:
    from tapeviz import to_dot

    rec = shell.user_ns.get("_tape")
    if rec is not None:
        (out / f"{stem}.dot").write_text(to_dot(rec))
        (out / f"{stem}.txt").write_text(rec.summary() + "\n")
        print(stem, len(rec.ops), "ops", flush=True)


def lessons(out: Path) -> None:
    from IPython.testing.globalipapp import start_ipython
    from IPython.utils.capture import capture_output

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
                dump(shell, out, f"{notebook.stem}-{number:02d}")


def corpus(out: Path) -> None:
    from IPython.utils.capture import capture_output

    import tapeviz

    print("tapeviz from", tapeviz.__file__, flush=True)

    sys.path.append(str(ROOT))  # PYTHONPATH decides which tapeviz is compared
    from tests.corpus.runner import CORPUS, cells, fresh_shell

    for path in sorted(CORPUS.glob("*.py")):
        if path.name in ("__init__.py", "runner.py"):
            continue
        os.chdir(tempfile.mkdtemp(prefix="tapeviz-dots-"))
        shell = fresh_shell()
        for number, cell in enumerate(cells(path)):
            shell.user_ns.pop("_tape", None)
            with capture_output():
                shell.run_cell(f"%%tape\n{cell}", store_history=True)
            dump(shell, out, f"{path.stem}-{number:02d}")


if __name__ == "__main__":
    target = Path(sys.argv[1])
    target.mkdir(parents=True, exist_ok=True)
    if "--corpus" in sys.argv:
        corpus(target)
    else:
        lessons(target)
