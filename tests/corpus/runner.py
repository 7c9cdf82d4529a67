"""Run the real-code corpus plain and under ``%%tape``; report every cell where they differ.

Each corpus file is one notebook: cells separated by ``# %%`` lines, later cells using what
earlier ones bound. A file runs twice, each time in a fresh IPython shell with
``%load_ext tapeviz``, from the same global state (Keras session, seeds, warnings, working
directory): once as written, once with ``%%tape`` on every cell. Per cell the two runs must
agree on stdout, stderr, the displayed value, the exception and the user namespace. Under
``%%tape`` a cell that ran a TensorFlow op must also show a graph, or a display output saying
why not, and leave tapeviz's hooks exactly as it found them.

Timings ("3ms/step"), memory addresses ("0x7f...") and the intermediate redrawings of a
progress bar are masked before comparing: they differ between any two runs.

Run one file (or all with no argument), from the repository root::

    .venv/bin/python -m tests.corpus.runner tests/corpus/tf_autodiff_basics.py
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

CORPUS = Path(__file__).parent
IGNORED_NAMES = {"_", "__", "___", "In", "Out", "exit", "quit", "get_ipython", "_tape",
                 "_oh", "_dh", "_ih", "_ii", "_iii", "_sh",
                 "__warningregistry__"}  # Python's own: the warnings shown from the cells
_IGNORED = re.compile(r"_i\d*|_\d+")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_MASKS = [(re.compile(r"0x[0-9a-fA-F]+"), "0x..."),
          (re.compile(r"__autograph_generated_file\w+"), "__autograph_generated_file..."),
          (re.compile(r"(?<![\d.])\d+(\.\d+)?(ms|us|s)(/step|/epoch)?(?![A-Za-z])"), "<time>"),
          (re.compile(r" +$", re.MULTILINE), "")]


@dataclass
class CellRun:
    """What one cell did, in comparable text."""

    stdout: str
    stderr: str
    value: str
    error: str
    namespace: dict[str, str]
    displays: list[str] = field(default_factory=list)  # text/plain of each display output
    tape_bound: bool = True  # %%tape bound its Recording to _tape
    ran_ops: bool = False
    graph_shown: bool = False
    other_displays: int = 0
    hooks_kept: bool = True


@dataclass
class Failure:
    file: str
    cell: int  # 1-based, as the cells appear in the file
    check: str
    detail: str
    source: str = ""


@dataclass
class FileReport:
    file: str
    cells: int
    seconds: float  # plain and %%tape run together
    tape_seconds: float
    op_cells: int  # cells that ran TensorFlow ops under %%tape
    graph_cells: int  # cells that showed a graph
    failures: list[Failure] = field(default_factory=list)


def corpus_files() -> list[Path]:
    """The corpus notebooks, in name order."""
    return sorted(p for p in CORPUS.glob("*.py") if p.name not in {"runner.py", "__init__.py"})


def cells(path: Path) -> list[str]:
    """The cells of a corpus file: the text between ``# %%`` lines (the header is not one)."""
    chunks = re.split(r"^# %%.*$\n?", path.read_text(), flags=re.MULTILINE)
    return [chunk.strip("\n") for chunk in chunks[1:] if chunk.strip()]


def mask(text: str) -> str:
    """``text`` as a terminal leaves it, with timings and addresses masked.

    A Keras progress bar redraws its line (``\\r``, backspaces, padding) as often as time
    allows, so only the last drawing of each line is compared.
    """
    text = "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


def fingerprint(value: Any, depth: int = 0) -> str:
    """Type and, where comparable, value of ``value``: equal fingerprints, equal values."""
    import numpy as np

    kind = type(value).__name__
    if isinstance(value, (bool, int, float, complex, str, bytes, type(None))):
        return f"{kind}:{value!r}"
    if depth < 3 and isinstance(value, (list, tuple)):
        return f"{kind}[" + ", ".join(fingerprint(v, depth + 1) for v in value[:50]) + "]"
    if depth < 3 and isinstance(value, dict):
        items = list(value.items())[:50]
        return f"{kind}{{" + ", ".join(f"{k!r}: {fingerprint(v, depth + 1)}"
                                       for k, v in items) + "}"
    if isinstance(value, np.ndarray) or _is_tensor(value):
        try:
            array = np.asarray(value.numpy() if hasattr(value, "numpy") else value)
        except Exception as error:  # a symbolic tensor, a deleted variable, ...
            return f"{kind}:<no value: {type(error).__name__}>"
        return f"{kind}:{_array_text(array)}"
    if _is_keras_layer(value):
        try:
            weights = value.get_weights()
        except Exception as error:
            return f"{kind}:<no weights: {type(error).__name__}>"
        return f"{kind}:weights[" + ", ".join(_array_text(w) for w in weights) + "]"
    return kind


def _array_text(array: Any) -> str:
    import hashlib

    import numpy as np

    array = np.asarray(array)
    if array.dtype == object:
        data = repr(array.tolist()).encode()
    else:
        data = np.ascontiguousarray(array).tobytes()
    preview = np.array2string(array.ravel()[:4], precision=9) if array.dtype != object else ""
    return f"{array.dtype}{list(array.shape)} {preview} #{hashlib.sha1(data).hexdigest()[:12]}"


def _is_tensor(value: Any) -> bool:
    import tensorflow as tf

    return isinstance(value, (tf.Tensor, tf.Variable))


def _is_keras_layer(value: Any) -> bool:
    import keras

    return isinstance(value, keras.layers.Layer)


def user_namespace(shell: Any, hidden: set[str]) -> dict[str, str]:
    return {name: fingerprint(value) for name, value in shell.user_ns.items()
            if name not in hidden and name not in IGNORED_NAMES and not _IGNORED.fullmatch(name)}


def fresh_shell() -> Any:
    """A new IPython shell with tapeviz loaded, from the same global state every time."""
    import keras
    import tensorflow as tf
    from IPython.core.interactiveshell import InteractiveShell

    InteractiveShell.clear_instance()
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "tapeviz")
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    tf.config.experimental.enable_op_determinism()
    _fresh_warnings()
    return shell


_WARNING_FILTERS: list[Any] = []


def _fresh_warnings() -> None:
    """Forget which warnings were shown, so each run shows them again."""
    if not _WARNING_FILTERS:
        _WARNING_FILTERS.extend(warnings.filters)
    warnings.filters[:] = _WARNING_FILTERS
    warnings.onceregistry.clear()
    for module in list(sys.modules.values()):
        registry = getattr(module, "__warningregistry__", None)
        if isinstance(registry, dict):
            registry.clear()
    warnings._filters_mutated()  # type: ignore[attr-defined]


def run_notebook(path: Path, tape: bool, workdir: Path) -> list[CellRun]:
    """Run every cell of ``path`` in a fresh shell in ``workdir`` (emptied first)."""
    from IPython.utils.capture import capture_output

    from tapeviz._tfhooks import hook_state

    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    here = os.getcwd()
    os.chdir(workdir)
    try:
        shell = fresh_shell()
        hidden = set(shell.user_ns)
        runs = []
        for cell in cells(path):
            shell.user_ns.pop("_tape", None)
            before = hook_state()
            with capture_output() as captured:
                result = shell.run_cell(f"%%tape\n{cell}" if tape else cell,
                                        store_history=True)
            error = result.error_before_exec or result.error_in_exec
            run = CellRun(stdout=mask(captured.stdout), stderr=mask(captured.stderr),
                          value=mask(repr(result.result)),
                          error="" if error is None else
                          mask(f"{type(error).__name__}: {error}"),
                          namespace=user_namespace(shell, hidden),
                          displays=[mask(o.data.get("text/plain", "")) for o in captured.outputs])
            if tape:
                recording = shell.user_ns.get("_tape")
                run.tape_bound = recording is not None
                run.ran_ops = bool(getattr(recording, "ops", None))
                run.graph_shown = any("image/svg+xml" in o.data for o in captured.outputs)
                run.other_displays = sum("image/svg+xml" not in o.data
                                         for o in captured.outputs)
                run.hooks_kept = hook_state() == before
            runs.append(run)
        return runs
    finally:
        os.chdir(here)


def compare(path: Path, plain: list[CellRun], taped: list[CellRun]) -> list[Failure]:
    """Every difference between the plain and the ``%%tape`` run, cell by cell."""
    failures = []
    sources = cells(path)
    for number, (a, b) in enumerate(zip(plain, taped, strict=True), start=1):
        found = []
        for check in ("error", "stdout", "stderr", "value"):
            if getattr(a, check) != getattr(b, check):
                found.append((check, f"plain: {_ANSI.sub('', getattr(a, check))!r}\n"
                                     f"%%tape: {_ANSI.sub('', getattr(b, check))!r}"))
        for name in sorted(set(a.namespace) | set(b.namespace)):
            if a.namespace.get(name) != b.namespace.get(name):
                found.append((f"namespace {name}", f"plain: {a.namespace.get(name)}\n"
                                                   f"%%tape: {b.namespace.get(name)}"))
        if b.displays[:len(a.displays)] != a.displays:  # the user's own, then tapeviz's
            found.append(("displays", f"plain: {a.displays!r}\n%%tape: {b.displays!r}"))
        if not b.tape_bound:
            found.append(("graph", "%%tape bound no Recording to _tape"))
        if b.ran_ops and not b.graph_shown and not b.other_displays:
            found.append(("graph", "the cell ran TensorFlow ops but no graph and no note "
                                   "was displayed"))
        if not b.hooks_kept:
            found.append(("hooks", "hook_state() differs before and after the cell"))
        failures += [Failure(path.name, number, check, detail, sources[number - 1])
                     for check, detail in found]
    return failures


def run_file(path: Path, workdir: Path) -> FileReport:
    start = time.perf_counter()
    try:
        plain = run_notebook(path, tape=False, workdir=workdir)
        middle = time.perf_counter()
        taped = run_notebook(path, tape=True, workdir=workdir)
    except Exception:  # the runner itself failed (a cell's own errors are results, not this)
        return FileReport(path.name, len(cells(path)), time.perf_counter() - start, 0.0, 0, 0,
                          [Failure(path.name, 0, "runner", traceback.format_exc())])
    end = time.perf_counter()
    return FileReport(path.name, len(plain), end - start, end - middle,
                      sum(run.ran_ops for run in taped), sum(run.graph_shown for run in taped),
                      compare(path, plain, taped))


def failed_cells(report: FileReport) -> int:
    """How many cells of the file differ (all of them when the runner itself failed)."""
    cells_ = {f.cell for f in report.failures}
    return report.cells if 0 in cells_ else len(cells_)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, help="corpus files (default: all)")
    parser.add_argument("--json", type=Path, help="also write the reports to this file")
    parser.add_argument("-q", "--quiet", action="store_true", help="no per-failure details")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="tapeviz-corpus-")) / "cwd"
    reports = []
    try:
        for path in args.files or corpus_files():
            report = run_file(path.resolve(), workdir)
            reports.append(report)
            sys.__stdout__.write(f"{report.file}: {report.cells - failed_cells(report)}/"
                                 f"{report.cells} "
                                 f"cells pass ({report.seconds:.1f} s, %%tape "
                                 f"{report.tape_seconds:.1f} s; {report.op_cells} ran ops, "
                                 f"{report.graph_cells} drew)\n")
            if not args.quiet:
                for f in report.failures:
                    sys.__stdout__.write(f"  cell {f.cell} [{f.check}]\n    "
                                         + f.detail.replace("\n", "\n    ")[:2000] + "\n")
            sys.__stdout__.flush()
    finally:
        shutil.rmtree(workdir.parent, ignore_errors=True)
    total = sum(r.cells for r in reports)
    bad = sum(failed_cells(r) for r in reports)
    print(f"corpus: {total - bad}/{total} cells pass in {len(reports)} files")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in reports], indent=1))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
