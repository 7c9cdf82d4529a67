"""Run lessons and store their outputs, as nbval will compare them.

    .venv/bin/python lessons/store_outputs.py lessons/03_gradient_tape.ipynb [more.ipynb ...]

Like ``jupyter nbconvert --execute --inplace``, with two differences: no execution timings in
the cells' metadata, and no TensorFlow C++ start-up log lines (for example "cudart_stub.cc:...
Could not find cuda drivers"), which TensorFlow writes to stderr at import before any setting
can silence it, with a timestamp and a process id that differ on every run.
"""

import re
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

TF_LOG_LINE = re.compile(r"^(?:[IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+\] .*"
                         r"|WARNING: All log messages before absl::InitializeLog\(\) is called"
                         r" are written to STDERR)$")


def without_tf_logs(outputs: list) -> list:
    kept = []
    for output in outputs:
        if output.output_type == "stream" and output.name == "stderr":
            lines = [line for line in output.text.splitlines() if not TF_LOG_LINE.match(line)]
            if not any(lines):
                continue
            output.text = "\n".join(lines) + "\n"
        kept.append(output)
    return kept


def store(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=120, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = without_tf_logs(cell.outputs)
    nbformat.write(notebook, path)


if __name__ == "__main__":
    for name in sys.argv[1:]:
        store(Path(name))
        print("stored", name)
