"""Binder works: install from ``binder/`` into a fresh virtual environment and run a lesson there.

Binder (repo2docker) installs ``binder/requirements.txt``, then runs ``binder/postBuild`` from the
repository root. This test does the same, without Docker: in a new virtual environment, on a
copy of the repository. Then it executes lesson 03 with that environment's Jupyter and kernel
and checks the reference text's outputs, the pictures, and the stored graph summaries.
"""

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

from tests.background import Job, started

ROOT = Path(__file__).resolve().parent.parent
LESSON = "lessons/03_gradient_tape.ipynb"
REFERENCE_OUTPUTS = [
    "tf.Tensor(6.0, shape=(), dtype=float32)",
    "<tf.Variable 'Variable:0' shape=() dtype=float32, numpy=3.0>",
    "tf.Tensor(9.8, shape=(), dtype=float32)",
]
# not copied: environments, caches and build products (the copy must install like a clone)
IGNORED = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.egg-info", ".ruff_cache",
                                 ".pytest_cache", ".ipynb_checkpoints", "build", "dist",
                                 "results")
PROBE = "import sys, tapeviz; print(sys.prefix); print(tapeviz.__file__)"


def run(step, command, *, env, cwd, timeout):
    """Run one step; on failure, say which step failed and show the end of its output."""
    try:
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired as error:
        output = error.stdout or ""
        if isinstance(output, bytes):
            output = output.decode(errors="replace")
        raise AssertionError(f"Binder check: {step} took more than {timeout} s.\n"
                             f"--- stdout (end) ---\n{output[-3000:]}") from None
    assert done.returncode == 0, (
        f"Binder check: {step} failed (exit code {done.returncode}).\n"
        f"command: {' '.join(map(str, command))}\n"
        f"--- stdout (end) ---\n{done.stdout[-3000:]}\n--- stderr (end) ---\n{done.stderr[-3000:]}"
    )
    return done.stdout


def fresh_environment(env_dir, home):
    """Environment variables for commands in the new venv, isolated from this one's Jupyter."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PYTHON", "JUPYTER", "VIRTUAL_ENV", "CONDA"))}
    env.update(
        PATH=f"{env_dir / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        VIRTUAL_ENV=str(env_dir),
        PYTHONNOUSERSITE="1",
        JUPYTER_CONFIG_DIR=str(home / "jupyter-config"),
        JUPYTER_DATA_DIR=str(home / "jupyter-data"),
        JUPYTER_RUNTIME_DIR=str(home / "jupyter-runtime"),
        IPYTHONDIR=str(home / "ipython"),
        MPLCONFIGDIR=str(home / "matplotlib"),
        KERAS_HOME=str(home / "keras"),
        TF_CPP_MIN_LOG_LEVEL="3",
    )
    return env


def binder_check() -> None:
    """The whole check in a temporary folder (tests/conftest.py starts it at collection)."""
    folder = Path(tempfile.mkdtemp(prefix="tapeviz-binder-"))
    try:
        check_binder(folder)
    finally:  # the environment is about 3 GB: don't leave it behind
        shutil.rmtree(folder, ignore_errors=True)


def test_binder_install_runs_a_lesson(request):
    job = started(request.config, "binder") or Job.start(binder_check)
    job.result(timeout=3000)


def check_binder(tmp_path):
    repo, env_dir, home = tmp_path / "repo", tmp_path / "venv", tmp_path / "home"
    shutil.copytree(ROOT, repo, ignore=IGNORED)
    home.mkdir()
    env = fresh_environment(env_dir, home)
    python = env_dir / "bin" / "python"

    run("creating a virtual environment", [sys.executable, "-m", "venv", env_dir],
        env=env, cwd=tmp_path, timeout=300)
    # --no-compile: pip would byte-compile every module of every package (a CPU-minute, and
    # failures there never fail pip); the modules the lesson imports are compiled as it does.
    run("pip install -r binder/requirements.txt",
        [python, "-m", "pip", "install", "-q", "--no-compile", "-r", "binder/requirements.txt"],
        env=env, cwd=repo, timeout=1500)

    post_build = repo / "binder" / "postBuild"
    post_build.chmod(post_build.stat().st_mode | stat.S_IXUSR)  # as repo2docker does
    run("binder/postBuild", ["./binder/postBuild"], env=env, cwd=repo, timeout=600)
    prefix, tapeviz_file = run("importing tapeviz", [python, "-c", PROBE], env=env, cwd=home,
                               timeout=300).splitlines()
    assert Path(prefix) == env_dir, f"the venv's python reports sys.prefix {prefix}"
    assert Path(tapeviz_file).is_relative_to(env_dir), (  # installed, not the repo's folder
        f"postBuild should install tapeviz into the environment, but {tapeviz_file} was "
        "imported")

    # Execute the lesson with the venv's nbconvert and kernel. A first cell is added that
    # prints where the kernel runs, so a kernel from another environment can't pass unnoticed.
    stored = nbformat.read(repo / LESSON, as_version=4)
    lesson = nbformat.read(repo / LESSON, as_version=4)
    lesson.cells.insert(0, nbformat.v4.new_code_cell(PROBE))
    probed = repo / LESSON.replace(".ipynb", "_probed.ipynb")
    nbformat.write(lesson, probed)
    run(f"executing {LESSON}",
        [python, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute", "--inplace",
         "--ExecutePreprocessor.kernel_name=python3", "--ExecutePreprocessor.timeout=300",
         probed.name], env=env, cwd=probed.parent, timeout=600)

    executed = nbformat.read(probed, as_version=4)
    kernel_prefix = stdout_of(executed.cells[0]).splitlines()[0]
    assert Path(kernel_prefix) == env_dir, (
        f"the lesson ran in {kernel_prefix}, not in the Binder environment {env_dir}")

    printed = "".join(stdout_of(cell) for cell in executed.cells)
    missing = [line for line in REFERENCE_OUTPUTS if line not in printed]
    assert not missing, f"{LESSON} did not print the reference outputs {missing}"

    pairs = list(zip(stored.cells, executed.cells[1:], strict=True))
    tape_cells = [(old, new) for old, new in pairs
                  if old.cell_type == "code" and old.source.startswith("%%tape")]
    assert tape_cells, f"{LESSON} has no %%tape cell"
    for old, new in tape_cells:
        assert svg_of(new), f"no picture for:\n{new.source}\n{new.outputs}"
        assert summary_of(new) == summary_of(old), (
            f"the graph summary differs from the stored one for:\n{new.source}\n"
            f"stored:\n{summary_of(old)}\nin the Binder environment:\n{summary_of(new)}")


def stdout_of(cell):
    return "".join(out.get("text", "") for out in cell.get("outputs", [])
                   if out.output_type == "stream" and out.name == "stdout")


def svg_of(cell):
    return [out for out in cell.outputs if "image/svg+xml" in out.get("data", {})]


def summary_of(cell):
    return [out.data["text/plain"] for out in svg_of(cell)]
