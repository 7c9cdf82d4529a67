"""Drive a real Jupyter server and headless Chromium for the end-to-end tests.

Three layers, each usable on its own:

- **Notebooks on disk**: :func:`stage_notebook` copies a notebook without its stored outputs and
  with a sentinel cell appended (the "run all finished" signal). Sources are never modified.
- **The server**: :func:`running_server` starts ``python -m jupyterlab`` (which also serves
  Notebook 7's ``/tree`` and ``/notebooks``) on a free localhost port, with a token and
  isolated config, data, runtime, settings and IPython dirs, logging to a file. It is always
  stopped by pid, with the kernels it started.
- **The page**: :class:`NotebookPage` opens a notebook in JupyterLab or Notebook 7, waits for
  its kernel, runs all cells, waits for the sentinel and reads every cell back from the
  notebook's *output model* (the page alone cannot tell an error from a stderr stream), plus
  the ``<img>`` elements the browser drew for SVG outputs and the kernel's iopub errors that
  belong to no cell (tracebacks from widget callbacks).

The checks (:func:`notebook_problems` and friends) are plain functions of that data, so they
are tested without a browser too (``test_helpers.py``). A ``%%tape`` graph passes when the
browser decoded its ``<img>`` (``naturalWidth > 0``), the SVG behind it is well-formed, and
every op its text summary lists is drawn as a node named after it, hidden as bookkeeping
(``tapeviz.collapse.BOOKKEEPING``), or counted in a layer/function box ("N ops").

Tags a notebook cell can carry: ``raises-exception`` (an error output is on purpose; also the
tag that lets JupyterLab's "run all" continue past it) and ``expect-stderr`` (non-TensorFlow
stderr output is on purpose).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

HERE = Path(__file__).resolve().parent
LESSONS = HERE.parents[1] / "lessons"
RESULTS = HERE / "results"
FIXTURES = HERE / "notebooks"
CHROMIUM = Path(os.environ.get("TAPEVIZ_E2E_CHROMIUM", "/usr/lib/chromium/chromium"))
# /usr/bin/chromium is a wrapper that drops --disable-dev-shm-usage: launch the binary.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
    "--no-first-run", "--disable-background-networking", "--disable-component-update",
    "--disable-sync",
]
SENTINEL = "TAPEVIZ-E2E-ALL-DONE"
RAISES_TAG = "raises-exception"
STDERR_TAG = "expect-stderr"
SVG_IMAGES = ".jp-OutputArea-output[data-mime-type='image/svg+xml'] img"


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright (Python) is not installed: pip install -e '.[test]'"
    if not CHROMIUM.exists():
        return f"Chromium not found at {CHROMIUM}: apt-get install chromium (see .ci/setup)"
    return None


# -- notebooks on disk --------------------------------------------------------------------------

def stage_notebook(source: Path, dest: Path, after: Sequence[dict] = ()) -> Path:
    """Write ``source`` to ``dest`` without outputs, with the cells ``after`` and the sentinel
    cell appended.

    Stored outputs are dropped so that a cell that did not run cannot pass on stale output.
    The kernelspec is set to this environment's ``python3`` (nbval's ``--nbval-current-env``).
    """
    notebook = nbformat.read(source, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    appended = [nbformat.from_dict(cell) for cell in after]
    appended.append(nbformat.v4.new_code_cell(f'print("{SENTINEL}")'))
    for cell in appended:
        if notebook.nbformat_minor < 5:  # cell ids came with nbformat 4.5
            cell.pop("id", None)
    notebook.cells += appended
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                       "language": "python"}
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, dest)
    return dest


# -- the server ---------------------------------------------------------------------------------

@dataclass
class JupyterServer:
    """A running server: where it listens, its token, its root dir and its log file."""

    base_url: str
    token: str
    root: Path
    log_path: Path
    pid: int
    stopping: list[threading.Thread] = field(default_factory=list)  # shutdown_kernels(wait=False)

    def url(self, path: str) -> str:
        """The browser URL of ``path`` (e.g. ``lab/tree/x.ipynb``), token included."""
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}/{path}{sep}token={self.token}"

    def api(self, method: str, path: str) -> Any:
        """Call the REST API; returns the decoded JSON (None for an empty reply)."""
        request = urllib.request.Request(
            f"{self.base_url}/api/{path}", method=method,
            headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=30) as reply:
            body = reply.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self, path: str | None = None, wait: bool = True) -> None:
        """Stop every session's kernel (or only the kernel of the notebook ``path``): each holds
        TensorFlow (hundreds of MB) and a core.

        With ``wait=False`` they are listed now and stopped in a thread: a kernel's shutdown
        handshake takes about 3 s that no later test needs to wait for (the server waits for
        those threads before it stops).
        """
        sessions = [session for session in self.api("GET", "sessions")
                    if path is None or session.get("path") == path]
        in_sessions = {session["kernel"]["id"] for session in sessions if session.get("kernel")}
        kernels = [] if path is not None else [
            kernel for kernel in self.api("GET", "kernels") if kernel["id"] not in in_sessions]
        calls = [f"sessions/{session['id']}" for session in sessions] + [
            f"kernels/{kernel['id']}" for kernel in kernels]

        def stop() -> None:
            for call in calls:
                with contextlib.suppress(OSError):
                    self.api("DELETE", call)

        if wait:
            stop()
            return
        thread = threading.Thread(target=stop, daemon=True)
        thread.start()
        self.stopping.append(thread)

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    """A localhost port nobody listens on now (the server gets ``port_retries=0``)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_isolated_config(workdir: Path) -> dict[str, str]:
    """Fresh Jupyter/IPython dirs under ``workdir``; returns the environment that uses them.

    The user settings silence JupyterLab's news and update pop-ups and turn off notebook
    windowing, so every cell (and its outputs) is in the DOM. Both JupyterLab and Notebook 7
    read them from ``JUPYTERLAB_SETTINGS_DIR``.
    """
    dirs = {name: workdir / name for name in
            ("config", "data", "runtime", "ipython", "settings", "workspaces")}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    settings = {
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
            {"fetchNews": "false", "checkForUpdates": False},
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    }
    for name, value in settings.items():
        path = dirs["settings"] / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    # Extension apps (Notebook 7) read their options from config files, not the command line.
    server_config = {"JupyterNotebookApp": {"expose_app_in_browser": True}}
    (dirs["config"] / "jupyter_server_config.json").write_text(json.dumps(server_config))
    return {
        "JUPYTER_CONFIG_DIR": str(dirs["config"]),
        "JUPYTER_DATA_DIR": str(dirs["data"]),
        "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
        "IPYTHONDIR": str(dirs["ipython"]),
        "JUPYTERLAB_SETTINGS_DIR": str(dirs["settings"]),
        "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"]),
    }


@contextlib.contextmanager
def running_server(root: Path, workdir: Path, log_path: Path,
                   timeout: float = 60) -> Iterator[JupyterServer]:
    """Start a JupyterLab server serving ``root``; stop it (and its kernels) by pid on exit."""
    port, token = free_port(), base64.b32encode(os.urandom(20)).decode().lower()
    env = {**os.environ, **write_isolated_config(workdir)}
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
        f"--port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, env=env, cwd=root, stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    server = JupyterServer(f"http://127.0.0.1:{port}", token, root, log_path, process.pid)
    try:
        _wait_until_up(server, process, timeout)
        yield server
    finally:
        for thread in server.stopping:
            thread.join(30)
        stop_process_tree(process)


def _wait_until_up(server: JupyterServer, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"Jupyter server exited ({process.returncode}); log "
                               f"{server.log_path}:\n{server.log_tail()}")
        with contextlib.suppress(OSError):
            server.api("GET", "status")
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"Jupyter server not up after {timeout:.0f} s; log "
                               f"{server.log_path}:\n{server.log_tail()}")
        time.sleep(0.2)


def stop_process_tree(process: subprocess.Popen, grace: float = 10) -> None:
    """SIGTERM ``process`` and its descendants (kernels run in their own sessions), by pid.

    The descendants are listed first: once the server is gone, kernels it failed to stop
    would be orphans nobody knows.
    """
    import psutil

    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)  # the server shuts its kernels down itself
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    _, alive = psutil.wait_procs(children, timeout=grace)
    for child in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()


# -- what a run left in the notebook ---------------------------------------------------------

@dataclass
class Cell:
    """One cell as the notebook model holds it after the run, plus the SVG ``<img>``s drawn."""

    index: int
    cell_type: str
    source: str
    tags: list[str]
    execution_count: int | None
    outputs: list[dict[str, Any]]
    svg_images: list[dict[str, Any]]  # src, naturalWidth, naturalHeight, loaded
    running: bool = False  # still executing (or queued) when the cells were read

    @property
    def tape_options(self) -> list[str] | None:
        """The ``%%tape`` options when this is a ``%%tape`` cell, else None."""
        first = self.source.lstrip("\n").split("\n", 1)[0]
        if self.cell_type != "code" or not re.match(r"%%tape(\s|$)", first):
            return None
        return shlex.split(first[len("%%tape"):])


@dataclass
class NotebookRun:
    """Everything a "run all" left: the cells, and messages that belong to no cell."""

    path: str
    cells: list[Cell]
    finished: bool  # the sentinel cell printed
    kernel_messages: list[dict[str, Any]] = field(default_factory=list)  # iopub, not from cells
    kernel_trouble: list[str] = field(default_factory=list)  # "dead", "autorestarting", ...
    page_errors: list[str] = field(default_factory=list)  # uncaught JavaScript exceptions

    @property
    def tape_cells(self) -> list[Cell]:
        return [cell for cell in self.cells if cell.tape_options is not None]


def output_text(output: dict[str, Any], key: str = "text") -> str:
    """An nbformat field that may be stored as a string or a list of lines."""
    value = output.get(key, "")
    return "".join(value) if isinstance(value, list) else str(value)


def stdout_text(cell: Cell) -> str:
    """What a cell printed to stdout."""
    return "".join(output_text(out) for out in cell.outputs
                   if out.get("output_type") == "stream" and out.get("name") == "stdout")


# -- the checks -------------------------------------------------------------------------------

# TensorFlow's C++ logging (absl): "I0000 00:00:1795866317.204506    5057 port.cc:153] ...".
_ABSL_LOG_LINE = re.compile(r"^[IWEF]\d{4} \d+:\d+:\d+\.\d+\s+\d+ \S+:\d+\] ")
_TF_LOG_EXTRA_LINES = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    # the second line of cpu_feature_guard's message
    "To enable the following instructions:",
)


def is_tensorflow_log(text: str) -> bool:
    """True when every line of a stderr text is TensorFlow's start-up logging (harmless)."""
    return all(
        not line.strip() or _ABSL_LOG_LINE.match(line) or line.startswith(_TF_LOG_EXTRA_LINES)
        for line in text.splitlines()
    )


def foreign_stderr(text: str) -> str:
    """The lines of a stderr text that are not TensorFlow logging."""
    return "\n".join(line for line in text.splitlines() if not is_tensorflow_log(line))


def cell_output_problems(cell: Cell) -> list[str]:
    """Error outputs not tagged ``raises-exception``; stderr that is not TensorFlow logging."""
    problems = []
    for output in cell.outputs:
        kind = output.get("output_type")
        if kind == "error" and RAISES_TAG not in cell.tags:
            problems.append(f"cell {cell.index}: error {output.get('ename')}: "
                            f"{output.get('evalue')}")
        elif (kind == "stream" and output.get("name") == "stderr"
              and STDERR_TAG not in cell.tags):
            stray = foreign_stderr(output_text(output))
            if stray:
                problems.append(f"cell {cell.index}: unexpected stderr:\n{_indent(stray)}")
    return problems


# ipywidgets' JupyterLab manager probes every new kernel for the widget control comm, which
# exists only once ipywidgets is imported there; the kernel logs the miss, and then that the
# probe's comm is unknown. Harmless, and only ever outside cells.
_WIDGET_PROBE_LINES = re.compile(
    r"^(No such comm target registered: jupyter\.widget\.control|No such comm: [0-9a-f-]+)$")


def kernel_message_problems(messages: list[dict[str, Any]]) -> list[str]:
    """Errors and foreign stderr the kernel sent outside any cell (e.g. widget callbacks)."""
    problems = []
    for message in messages:
        content, parent = message.get("content", {}), message.get("parent")
        if message.get("type") == "error":
            problems.append(f"kernel error outside a cell (reply to {parent}): "
                            f"{content.get('ename')}: {content.get('evalue')}")
        elif message.get("type") == "stream":
            stray = "\n".join(line for line in foreign_stderr(output_text(content)).splitlines()
                              if not _WIDGET_PROBE_LINES.match(line))
            if stray:
                problems.append(f"kernel stderr outside a cell (reply to {parent}):\n"
                                f"{_indent(stray)}")
    return problems


def summary_ops(summary: str) -> list[tuple[str, str, int]]:
    """``(phase, op label, count)`` from a recording's text summary.

    ``forward (6 ops): 1 AssignVariableOp, 2 ReadVariableOp`` gives
    ``("forward", "AssignVariableOp", 1)`` and ``("forward", "ReadVariableOp", 2)``.
    """
    found = []
    for phase, listed in re.findall(r"^\s*(forward|backward) \(\d+ ops\): (.*)$", summary,
                                    flags=re.MULTILINE):
        for item in listed.split(", "):
            count, label = item.split(" ", 1)
            found.append((phase, label, int(count)))
    return found


def hidden_op_types(*, all_ops: bool = False) -> tuple[frozenset[str], frozenset[str]]:
    """Op types tapeviz's default view hides as bookkeeping: (forward, backward)."""
    if all_ops:
        return frozenset(), frozenset()
    from tapeviz.collapse import BACKWARD_ONLY, BOOKKEEPING  # the drawing policy itself

    return BOOKKEEPING - BACKWARD_ONLY, BOOKKEEPING


def undrawn_ops(summary: str, texts: list[str], *, backward: bool = True,
                all_ops: bool = False) -> dict[str, int]:
    """Ops the summary lists that the SVG neither draws nor collapses into a box ({} if none).

    An op is drawn as a node labelled with its name (one per op), hidden when it is
    bookkeeping, or collapsed into a layer/function box that says "N ops". So the ops that no
    node shows may not outnumber the ops the boxes hold.
    """
    hidden_forward, hidden_backward = hidden_op_types(all_ops=all_ops)
    required: Counter[str] = Counter()
    for phase, label, count in summary_ops(summary):
        if phase == "backward" and not backward:
            continue
        if label not in (hidden_backward if phase == "backward" else hidden_forward):
            required[label] += count
    drawn = Counter(text for text in texts if text in required)
    undrawn = {label: n - drawn[label] for label, n in required.items() if n > drawn[label]}
    boxed = sum(int(match[1]) for text in texts if (match := re.fullmatch(r"(\d+) ops", text)))
    return {} if sum(undrawn.values()) <= boxed else undrawn


def decode_data_url(url: str) -> str:
    """The text behind a ``data:`` URL (JupyterLab draws SVG outputs as such an ``<img>``)."""
    head, _, data = url.partition(",")
    if not head.startswith("data:"):
        raise ValueError(f"not a data URL: {url[:60]}")
    raw = base64.b64decode(data) if head.endswith(";base64") else urllib.parse.unquote_to_bytes(
        data)
    return raw.decode("utf-8", errors="replace")


def svg_texts(svg: str) -> list[str]:
    """The stripped contents of every ``<text>`` element; raises ``ParseError`` if not XML."""
    root = ET.fromstring(svg)
    return ["".join(el.itertext()).strip() for el in root.iter()
            if el.tag in ("text", "{http://www.w3.org/2000/svg}text")]


def svg_image_problems(image: dict[str, Any], summary: str, *, backward: bool = True,
                       all_ops: bool = False) -> list[str]:
    """Why a drawn SVG ``<img>`` does not show the ops its summary lists (empty: it does)."""
    problems = []
    if not image.get("loaded") or not image.get("naturalWidth"):
        problems.append(f"the browser could not draw the SVG (naturalWidth "
                        f"{image.get('naturalWidth')}, decoded: {image.get('loaded')})")
    try:
        texts = svg_texts(decode_data_url(image.get("src", "")))
    except (ValueError, ET.ParseError) as error:
        return [*problems, f"the SVG is not well-formed XML: {error}"]
    if any(text.startswith("Showing the first") for text in texts):
        return problems  # cut at a size limit: which boxes were kept, the summary can't say
    missing = undrawn_ops(summary, texts, backward=backward, all_ops=all_ops)
    if missing:
        listed = ", ".join(f"{label} x{n}" if n > 1 else label
                           for label, n in sorted(missing.items()))
        problems.append(f"ops missing from the SVG (not drawn, not in a box): {listed}")
    return problems


def tape_cell_problems(cell: Cell) -> list[str]:
    """A ``%%tape`` cell must show one drawable SVG per recording, naming its ops."""
    options = cell.tape_options
    if options is None or "--quiet" in options or _option(options, "--format", "svg") != "svg":
        return []
    displays = [out.get("data", {}) for out in cell.outputs
                if out.get("output_type") == "display_data"]
    # tapeviz's note under the picture: why nothing was drawn, diagnostics, its own failures
    is_note = [output_text(data, "text/html").startswith('<div class="tapeviz-notes"')
               for data in displays]
    labelled = list(zip(displays, is_note, strict=True))
    notes = [output_text(d, "text/plain") for d, note in labelled if note]
    summaries = [output_text(d, "text/plain") for d, note in labelled
                 if not note and output_text(d, "text/plain").startswith("tapeviz")]
    drawn = [s for s in summaries if s.startswith("tapeviz recording:")]
    problems = [f"cell {cell.index}: tapeviz could not draw: {_indent(s)}"
                for s in summaries + notes if "could not draw" in s or "could not finish" in s]
    if not (summaries or notes) and not any(o.get("output_type") == "error"
                                           for o in cell.outputs):
        problems.append(f"cell {cell.index}: %%tape showed no graph summary")
    if len(cell.svg_images) != len(drawn):
        problems.append(f"cell {cell.index}: {len(drawn)} recordings but "
                        f"{len(cell.svg_images)} SVG images on the page")
    flags = {"backward": "--no-backward" not in options, "all_ops": "--all-ops" in options}
    for summary, image in zip(drawn, cell.svg_images, strict=False):
        problems += [f"cell {cell.index}: {p}" for p in svg_image_problems(image, summary, **flags)]
    return problems


def notebook_problems(run: NotebookRun) -> list[str]:
    """Everything wrong with a run: unfinished, unrun cells, errors, stderr, broken graphs."""
    problems = [] if run.finished else [f"{run.path}: 'run all' did not reach the last cell"]
    if run.kernel_trouble:
        problems.append(f"the kernel died ({', '.join(run.kernel_trouble)}): out of memory?")
    if not run.finished:
        problems += [f"cell {cell.index}: still running when the wait ended"
                     for cell in run.cells[:-1] if cell.running][:1]
    for cell in run.cells:
        if (run.finished and cell.cell_type == "code" and cell.source.strip()
                and cell.execution_count is None):
            problems.append(f"cell {cell.index}: did not run")
        problems += cell_output_problems(cell) + tape_cell_problems(cell)
    problems += kernel_message_problems(run.kernel_messages)
    problems += [f"JavaScript error on the page: {error}" for error in run.page_errors]
    return problems


def bullets(problems: list[str]) -> str:
    """Problems as a list for an assertion message."""
    return "\n".join(f"- {problem}" for problem in problems)


def _option(options: list[str], name: str, default: str) -> str:
    for i, option in enumerate(options):
        if option == name and i + 1 < len(options):
            return options[i + 1]
        if option.startswith(name + "="):
            return option.split("=", 1)[1]
    return default


def _indent(text: str, limit: int = 1500) -> str:
    text = text if len(text) <= limit else text[:limit] + " ..."
    return "\n".join("    " + line for line in text.splitlines())


# -- the page ---------------------------------------------------------------------------------

_CURRENT = "window.jupyterapp && window.jupyterapp.shell.currentWidget"

_OPENED_JS = f"""(path) => {{
    const w = {_CURRENT};
    return !!(w && w.context && w.context.path === path && w.sessionContext);
}}"""

# Listen to the kernel's iopub channel: tracebacks raised in widget callbacks reach no cell.
_READY_JS = f"""async () => {{
    const w = {_CURRENT};
    await w.context.ready;
    await w.sessionContext.ready;
    window.__e2e = {{messages: [], kernelTrouble: []}};
    w.sessionContext.statusChanged.connect((_, status) => {{
        if (['dead', 'restarting', 'autorestarting'].includes(status))
            window.__e2e.kernelTrouble.push(status);
    }});
    w.sessionContext.iopubMessage.connect((_, msg) => {{
        const type = msg.header.msg_type;
        const parent = (msg.parent_header || {{}}).msg_type || null;
        if (parent === 'execute_request') return;  // those land in the cell's output model
        if (type === 'error' || (type === 'stream' && msg.content.name === 'stderr'))
            window.__e2e.messages.push({{type, parent, content: msg.content}});
    }});
}}"""

_KERNEL_IDLE_JS = f"""() => {{
    const w = {_CURRENT};
    const kernel = w.sessionContext.session && w.sessionContext.session.kernel;
    return !!kernel && kernel.status === 'idle';
}}"""

# Done when the sentinel printed, or when "run all" stopped at an untagged error.
_RUN_STATE_JS = f"""([sentinel, raisesTag]) => {{
    const w = {_CURRENT};
    const cells = w.content.widgets;
    const text = (o) => [].concat(o.text || '').join('');
    const outputs = (c) => c.model.type === 'code' ? c.model.outputs.toJSON() : [];
    // the sentinel's output comes before the execute reply that sets its execution count
    const last = cells[cells.length - 1];
    if (outputs(last).some(o => text(o).includes(sentinel))
        && last.model.executionCount !== null) return 'finished';
    if (window.__e2e.kernelTrouble.length) return 'kernel died';
    const kernel = w.sessionContext.session && w.sessionContext.session.kernel;
    const stopped = cells.some(c => outputs(c).some(o => o.output_type === 'error')
        && !(c.model.getMetadata('tags') || []).includes(raisesTag));
    return stopped && kernel && kernel.status === 'idle' ? 'stopped' : false;
}}"""

_COLLECT_JS = f"""async (selector) => {{
    const w = {_CURRENT};
    const cells = [];
    for (const [index, cell] of w.content.widgets.entries()) {{
        const m = cell.model;
        const svgImages = [];
        for (const img of cell.node.querySelectorAll(selector)) {{
            let loaded = true;
            try {{ await img.decode(); }} catch (e) {{ loaded = false; }}
            svgImages.push({{src: img.src, naturalWidth: img.naturalWidth,
                             naturalHeight: img.naturalHeight, loaded}});
        }}
        cells.push({{index, cell_type: m.type, source: m.sharedModel.getSource(),
                    tags: m.getMetadata('tags') || [],
                    execution_count: m.type === 'code' ? m.executionCount : null,
                    outputs: m.type === 'code' ? m.outputs.toJSON() : [],
                    svg_images: svgImages,
                    running: m.type === 'code' && m.executionState === 'running'}});
    }}
    const seen = window.__e2e || {{messages: [], kernelTrouble: []}};
    return {{cells, messages: seen.messages, kernel_trouble: seen.kernelTrouble}};
}}"""


class NotebookPage:
    """One notebook open in a browser page, in JupyterLab (``ui="lab"``) or Notebook 7.

    ``workspace`` names a JupyterLab workspace of its own, for a page open beside another.
    """

    def __init__(self, page: Any, server: JupyterServer, path: str, ui: str = "lab",
                 workspace: str | None = None):
        self.page, self.server, self.path, self.ui = page, server, path, ui
        self.workspace = workspace
        self.page_errors: list[str] = []
        # Errors of the app's own start-up, not of any output: Notebook 7.6 throws one
        # ("reading 'schema'", its shortcuts plugin) on every page load.
        self.startup_errors: list[str] = []
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))

    @property
    def url(self) -> str:
        quoted = urllib.parse.quote(self.path)
        if self.ui != "lab":
            return self.server.url(f"notebooks/{quoted}")
        lab = f"lab/workspaces/{urllib.parse.quote(self.workspace)}" if self.workspace else "lab"
        return self.server.url(f"{lab}/tree/{quoted}?reset")

    def open(self, timeout: float = 90, *, navigate: bool = True) -> NotebookPage:
        """Load the page (unless it is already loading) and wait for an idle kernel.

        The toolbar's idle indicator says idle before a kernel exists: ask the session.
        """
        ms = timeout * 1000
        if navigate:
            self.page.goto(self.url, timeout=ms)
        self.page.wait_for_function(_OPENED_JS, arg=self.path, timeout=ms, polling=200)
        self.page.evaluate(_READY_JS)
        self.page.wait_for_function(_KERNEL_IDLE_JS, timeout=ms, polling=200)
        self.startup_errors += self.page_errors
        self.page_errors.clear()  # from here on, JavaScript errors count as failures
        return self

    def run_all(self, timeout: float = 120) -> NotebookRun:
        """Run all cells; wait for the sentinel (or a stop at an error); collect the cells."""
        self.start_run_all()
        return self.wait_for_run(timeout)

    def start_run_all(self) -> None:
        """Start "run all" and return at once (the kernel runs on while the caller goes on)."""
        # Not awaited: the command's promise settles only when every cell has run.
        self.page.evaluate("() => { jupyterapp.commands.execute('notebook:run-all-cells'); }")

    def wait_for_run(self, timeout: float = 120) -> NotebookRun:
        """Wait for the sentinel of a started "run all" (or a stop at an error); collect."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        with contextlib.suppress(PlaywrightTimeout):  # a timeout shows as finished=False
            self.page.wait_for_function(_RUN_STATE_JS, arg=[SENTINEL, RAISES_TAG],
                                        timeout=timeout * 1000, polling=250)
        return self.collect()

    def collect(self) -> NotebookRun:
        """Read every cell back from the notebook model, and the messages seen so far."""
        data = self.page.evaluate(_COLLECT_JS, SVG_IMAGES)
        cells = [Cell(**cell) for cell in data["cells"]]
        finished = bool(cells) and any(
            SENTINEL in output_text(out) for out in cells[-1].outputs)
        return NotebookRun(self.path, cells, finished, data["messages"], data["kernel_trouble"],
                           list(self.page_errors))

    def cell(self, index: int) -> Any:
        """A Playwright locator for the cell at ``index`` (windowing is off: all are there)."""
        return self.page.locator(".jp-Notebook .jp-Cell").nth(index)

    def show_first_problem(self, problems: list[str]) -> None:
        """Scroll to the first cell a problem names, so a failure screenshot shows it."""
        cells = [int(match[1]) for p in problems if (match := re.match(r"cell (\d+):", p))]
        if cells:
            with contextlib.suppress(Exception):  # only a convenience for the screenshot
                self.cell(cells[0]).evaluate("el => el.scrollIntoView({block: 'start'})")

    def screenshot(self, path: Path, cell: int | None = None) -> Path:
        """A screenshot of the page, scrolled to ``cell`` (e.g. the first ``%%tape`` cell)."""
        if cell is not None:  # its first output (a graph, a widget) at the top of the view
            target = self.cell(cell).locator(".jp-OutputArea-output").first
            target.evaluate("el => el.scrollIntoView({block: 'start'})")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path))
        return path


def save_failure_artefacts(page: Any, server: JupyterServer, label: str) -> list[Path]:
    """Screenshot, page HTML and a copy of the server log, under ``results/failures/LABEL``.

    The page is the newest one of ``page``'s browser context: in Notebook 7, the notebook's
    own tab rather than the ``/tree`` page that opened it.
    """
    with contextlib.suppress(Exception):
        page = page.context.pages[-1]
    folder = RESULTS / "failures" / label
    folder.mkdir(parents=True, exist_ok=True)
    saved = []
    with contextlib.suppress(Exception):  # a dead page must not hide the real failure
        page.screenshot(path=str(folder / "screenshot.png"))
        saved.append(folder / "screenshot.png")
    with contextlib.suppress(Exception):
        (folder / "page.html").write_text(page.content())
        saved.append(folder / "page.html")
    with contextlib.suppress(OSError):
        shutil.copyfile(server.log_path, folder / "server.log")
        saved.append(folder / "server.log")
    return saved


@contextlib.contextmanager
def artefacts_on_failure(page: Any, server: JupyterServer, label: str) -> Iterator[None]:
    """On any failure inside, save the artefacts and name their paths in the failure message."""
    try:
        yield
    except Exception as error:
        paths = save_failure_artefacts(page, server, label)
        where = f"Failure artefacts ({label}):\n" + "\n".join(f"  {path}" for path in paths)
        if isinstance(error, AssertionError):  # same error and traceback, longer message
            error.args = (f"{error.args[0] if error.args else ''}\n\n{where}",)
            raise
        raise AssertionError(f"{type(error).__name__}: {error}\n\n{where}") from error


# -- the SGDStepper widget --------------------------------------------------------------------

@dataclass(frozen=True)
class StepperStatus:
    """What the stepper's status line says: the last step and its loss (None before any)."""

    step: int | None
    loss: str | None  # as shown (4 significant digits), so equal means equal on screen
    text: str


class StepperWidget:
    """The ``SGDStepper`` in one cell's output, used through its buttons like a learner would."""

    def __init__(self, cell: Any):
        self.cell = cell
        self.status_line = cell.locator(".widget-html-content", has_text="next: batch")
        self.plots = cell.locator("img.widget-image")

    def button(self, name: str | re.Pattern[str]) -> Any:
        return self.cell.get_by_role("button", name=name, exact=isinstance(name, str))

    def status(self) -> StepperStatus:
        text = self.status_line.inner_text()
        step = re.search(r"^step (\d+) \(", text)
        loss = re.search(r"loss (\S+?)(?: ·|$)", text)
        return StepperStatus(int(step.group(1)) if step else None,
                             loss.group(1) if loss else None, text)

    def wait_for_status(self, pattern: str, timeout: float = 30) -> StepperStatus:
        """Wait until the status line matches the regex ``pattern``; return the status."""
        from playwright.sync_api import expect

        expect(self.status_line).to_have_text(re.compile(pattern), timeout=timeout * 1000)
        return self.status()

    def wait_for_redraw(self, old_src: str, timeout: float = 30) -> None:
        """Wait until the first plot (the loss) shows a new PNG; it comes after the status."""
        from playwright.sync_api import expect

        expect(self.plots.first).not_to_have_attribute("src", old_src, timeout=timeout * 1000)

    def plot_images(self) -> list[dict[str, Any]]:
        """naturalWidth and src of every plot (PNG ``ipywidgets.Image``)."""
        return self.plots.evaluate_all(
            "imgs => imgs.map(i => ({naturalWidth: i.naturalWidth, src: i.src}))")
