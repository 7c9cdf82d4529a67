"""A class on JupyterHub, for real, on 127.0.0.1: what README's "Teaching a class" promises.

Starts JupyterHub (PyPI ``jupyterhub``) with npm's ``configurable-http-proxy`` (both installed
by ``.ci/setup``), the dummy authenticator and the simple local spawner (one home folder per
student), with ``singleuser.defaultUrl`` and ``singleuser.extraEnv`` from
``binder/hub/values.yaml``. Two students log in through the login form and start their
servers; each clicks the nbgitpuller link that ``binder/hub/lesson_link.py`` makes, which
pulls the lessons from a local git repository into their home; each runs lesson 00 through
their server's REST API and kernel websocket, and its first ``%%tape`` cell must draw an SVG.
One student's edit must not reach the other, and a second pull must keep it. At the end every
process the hub started (proxy, servers, kernels) and the hub itself must be gone.

The class mostly waits on the hub's processes, so tests/conftest.py starts it in a thread
(tests/background.py) once the browser tests are over, and the test waits for its outcome.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.background import Job, started
from tests.test_links import links

requests = pytest.importorskip("requests")
psutil = pytest.importorskip("psutil")
websocket = pytest.importorskip("websocket")
yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parent.parent
VALUES = ROOT / "binder" / "hub" / "values.yaml"
STUDENTS = ("alice", "bob")
TIMEOUT = 60  # seconds for any one wait (spawn, pull, one cell)
EDIT = "alice's own note: do not share"


def proxy_command() -> str | None:
    """configurable-http-proxy: where .ci/setup puts it (inside the venv), else on PATH."""
    local = Path(sys.prefix) / "node" / "node_modules" / ".bin" / "configurable-http-proxy"
    return str(local) if local.exists() else shutil.which("configurable-http-proxy")


def missing() -> str | None:
    try:
        import jupyterhub  # noqa: F401
        import nbgitpuller  # noqa: F401
    except ImportError as err:
        return f"{err.name} is not installed: pip install -e '.[test]'"
    if proxy_command() is None:
        return "configurable-http-proxy (npm) is not installed: run .ci/setup"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def lessons_repository(where: Path) -> Path:
    """A local git repository holding the lessons, named like the real one."""
    name = links.repository_url().split("/")[-1]
    repo = where / name
    shutil.copytree(ROOT / "lessons", repo / "lessons",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    git = ["git", "-C", str(repo), "-c", "user.name=teacher", "-c", "user.email=t@example.org"]
    for command in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "lessons"]):
        subprocess.run(git + command, check=True, capture_output=True)
    return repo


def hub_config(tmp: Path, port: int, token: str) -> Path:
    singleuser = yaml.safe_load(VALUES.read_text())["singleuser"]
    environment = {**singleuser["extraEnv"], "MPLBACKEND": "Agg"}
    config = f"""
c = get_config()  # noqa
c.JupyterHub.bind_url = "http://127.0.0.1:{port}"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{free_port()}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{free_port()}"
c.ConfigurableHTTPProxy.command = [{proxy_command()!r}]
c.JupyterHub.db_url = "sqlite:///{tmp / 'hub.sqlite'}"
c.JupyterHub.cookie_secret_file = {str(tmp / 'cookie_secret')!r}
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allowed_users = {set(STUDENTS)!r}
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {str(tmp / 'homes' / '{username}')!r}
c.Spawner.cmd = [{sys.executable!r}, "-m", "jupyterhub.singleuser"]
c.Spawner.args = ["--allow-root"]
c.Spawner.default_url = {singleuser["defaultUrl"]!r}
c.Spawner.environment = {environment!r}
c.Spawner.start_timeout = {TIMEOUT}
c.Spawner.http_timeout = {TIMEOUT}
c.JupyterHub.services = [{{"name": "teacher", "api_token": {token!r}}}]
c.JupyterHub.load_roles = [{{"name": "teacher", "services": ["teacher"],
                             "scopes": ["admin:users", "admin:servers"]}}]
"""
    path = tmp / "jupyterhub_config.py"
    path.write_text(config)
    return path


class Hub:
    def __init__(self, url: str, token: str, process: subprocess.Popen, log: Path):
        self.url, self.process, self.log = url, process, log
        self.teacher = requests.Session()
        self.teacher.headers["Authorization"] = f"token {token}"
        self.seen: dict[int, str] = {}  # pid -> what it was, of every process the hub started

    def api(self, method: str, path: str, **kwargs):
        response = self.teacher.request(method, f"{self.url}/hub/api{path}", timeout=TIMEOUT,
                                        **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def note_processes(self) -> None:
        for child in psutil.Process(self.process.pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                self.seen[child.pid] = " ".join(child.cmdline()[:3])

    def wait_ready(self, name: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not self.api("GET", f"/users/{name}").get("servers", {}).get("", {}).get("ready"):
            assert time.monotonic() < deadline, f"{name}'s server did not start\n{self.tail()}"
            time.sleep(0.2)

    def tail(self) -> str:
        return "--- hub log (end) ---\n" + self.log.read_text(errors="replace")[-4000:]


@contextlib.contextmanager
def running_hub(tmp_path: Path) -> Iterator[Hub]:
    """JupyterHub in ``tmp_path``; afterwards every process it started must be gone."""
    port, token = free_port(), uuid.uuid4().hex
    config = hub_config(tmp_path, port, token)
    log = tmp_path / "hub.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(config)], cwd=tmp_path,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    hub = Hub(f"http://127.0.0.1:{port}", token, process, log)
    try:
        deadline = time.monotonic() + TIMEOUT
        while True:
            assert process.poll() is None, f"JupyterHub exited\n{hub.tail()}"
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(f"{hub.url}/hub/api/", timeout=5).ok:
                    break
            assert time.monotonic() < deadline, f"JupyterHub did not come up\n{hub.tail()}"
            time.sleep(0.2)
        hub.note_processes()
        yield hub
    finally:
        left = stop(hub)
    assert not left, f"still running after the hub stopped: {left}\n{hub.tail()}"


def stop(hub: Hub) -> dict[int, str]:
    """Stop the servers and the hub; kill what is left and return it (it should be nothing)."""
    hub.note_processes()
    for name in STUDENTS:
        with contextlib.suppress(Exception):
            hub.api("DELETE", f"/users/{name}/server")
    hub.process.send_signal(signal.SIGTERM)  # the hub then stops the proxy it started
    try:
        hub.process.wait(TIMEOUT)
    except subprocess.TimeoutExpired:
        hub.process.kill()
        hub.process.wait()
    deadline = time.monotonic() + 10
    left = dict(hub.seen)
    while left and time.monotonic() < deadline:
        left = {pid: what for pid, what in left.items() if running(pid)}
        time.sleep(0.1)
    for pid in left:
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).kill()
    return left


def running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class Student:
    """One student's browser session: cookies from the login form, then their own server."""

    def __init__(self, hub: Hub, name: str):
        self.hub, self.name = hub, name
        self.session = requests.Session()
        self.base = f"{hub.url}/user/{name}"

    def log_in(self) -> None:
        self.session.get(f"{self.hub.url}/hub/login", timeout=TIMEOUT).raise_for_status()
        form = {"username": self.name, "password": "any", "_xsrf": self.cookie("/hub/")}
        response = self.session.post(f"{self.hub.url}/hub/login", data=form,
                                     allow_redirects=False, timeout=TIMEOUT)
        assert response.status_code == 302, (response.status_code, response.text[:500])
        response = self.session.post(f"{self.hub.url}/hub/api/users/{self.name}/server",
                                     headers={"X-XSRFToken": self.cookie("/hub/")},
                                     timeout=TIMEOUT)
        assert response.status_code in (201, 202), (response.status_code, response.text)
        self.hub.wait_ready(self.name)

    def cookie(self, path: str) -> str:
        return next(c.value for c in self.session.cookies
                    if c.name == "_xsrf" and path.startswith(c.path))

    def click(self, link: str) -> None:
        """Open the nbgitpuller link like a browser: redirects, OAuth, then the pull itself."""
        page = self.session.get(link, timeout=TIMEOUT)
        assert page.ok and page.url.startswith(f"{self.base}/git-pull"), (page.url, page.text[:500])
        query = {key: values[0] for key, values in parse_qs(urlsplit(link).query).items()}
        events = []
        pull = {key: query[key] for key in ("repo", "targetpath")}
        with self.session.get(f"{self.base}/git-pull/api", params=pull, stream=True,
                              timeout=TIMEOUT) as stream:
            for line in stream.iter_lines(decode_unicode=True):
                if line.startswith("data: "):
                    events.append(json.loads(line[6:]))
                    if events[-1].get("phase") in ("finished", "error"):
                        break
        assert events and events[-1]["phase"] == "finished", events
        lab = self.session.get(f"{self.base}/{query['urlpath']}", timeout=TIMEOUT)  # where it goes
        assert lab.ok, lab.status_code

    def rest(self, method: str, path: str, **kwargs):
        response = self.session.request(
            method, f"{self.base}/api{path}", timeout=TIMEOUT,
            headers={"X-XSRFToken": self.cookie(f"/user/{self.name}/")}, **kwargs)
        assert response.ok, (method, path, response.status_code, response.text[:500])
        return response.json() if response.content else None

    def run_notebook(self, path: str) -> list[tuple[dict, list[dict]]]:
        """Execute every code cell through a kernel's websocket: (cell, outputs) pairs."""
        notebook = self.rest("GET", f"/contents/{path}?content=1")["content"]
        # as JupyterLab opens it: a session whose kernel starts in the notebook's folder
        session = self.rest("POST", "/sessions", json={
            "path": path, "type": "notebook", "name": "", "kernel": {"name": "python3"}})
        kernel = session["kernel"]
        cookies = "; ".join(f"{c.name}={c.value}" for c in self.session.cookies
                            if f"/user/{self.name}/".startswith(c.path) or c.path == "/")
        url = self.base.replace("http://", "ws://") + f"/api/kernels/{kernel['id']}/channels"
        channel = websocket.create_connection(url, cookie=cookies, timeout=TIMEOUT)
        try:
            ran = []
            for cell in (cell for cell in notebook["cells"] if cell["cell_type"] == "code"):
                ran.append((cell, execute(channel, cell["source"])))
                self.hub.note_processes()  # the kernel too
            return ran
        finally:
            channel.close()
            self.rest("DELETE", f"/sessions/{session['id']}")


def execute(channel, code: str) -> list[dict]:
    """One execute_request; the iopub outputs it produced, until the kernel is idle again."""
    msg_id = uuid.uuid4().hex
    channel.send(json.dumps({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "student",
                   "session": "test", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": True,
                    "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
    }))
    outputs = []
    while True:
        message = json.loads(channel.recv())
        if message.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind = message["msg_type"]
        if kind in ("stream", "display_data", "execute_result", "error"):
            outputs.append({"output_type": kind, **message["content"]})
        elif kind == "status" and message["content"]["execution_state"] == "idle":
            return outputs


def class_check() -> str:
    """The whole class in a temporary folder; returns how long its steps took."""
    folder = Path(tempfile.mkdtemp(prefix="tapeviz-hub-"))
    try:
        with running_hub(folder) as hub:
            return a_class_of_two(hub, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_class_of_two_on_jupyterhub(request):
    reason = missing()
    if reason and os.environ.get("CI"):
        pytest.fail(f"the JupyterHub test cannot run: {reason}")
    if reason:
        pytest.skip(reason)
    job = started(request.config, "hub") or Job.start(class_check)
    print(job.result(timeout=1200))


def a_class_of_two(hub: Hub, tmp_path: Path) -> str:
    started = time.monotonic()
    repo = lessons_repository(tmp_path / "teacher")
    lesson = links.lesson_path("00")
    link = links.nbgitpuller_link(hub.url, lesson, str(repo))
    students = [Student(hub, name) for name in STUDENTS]

    def attend(student: Student) -> list[tuple[dict, list[dict]]]:
        student.log_in()
        student.click(link)
        assert (tmp_path / "homes" / student.name / pulled).is_file(), "not pulled into home"
        return student.run_notebook(pulled)

    pulled = f"{repo.name}/{lesson}"
    with ThreadPoolExecutor(len(students)) as pool:  # the two students at the same time
        runs = list(pool.map(attend, students))
    timings = (f"\n  both students logged in, pulled and ran {lesson}: "
               f"{time.monotonic() - started:.1f} s")
    for student, cells in zip(students, runs, strict=True):
        errors = [(cell["source"], out) for cell, outputs in cells for out in outputs
                  if out["output_type"] == "error"
                  and "raises-exception" not in cell["metadata"].get("tags", [])]
        assert not errors, f"{student.name}: lesson 00 failed:\n{errors}"
        tape = next(outputs for cell, outputs in cells if cell["source"].startswith("%%tape"))
        svgs = [out["data"]["image/svg+xml"] for out in tape
                if "image/svg+xml" in out.get("data", {})]
        assert svgs and "<svg" in svgs[0], f"{student.name}: the %%tape cell drew {tape}"

    alice, bob = students
    model = alice.rest("GET", f"/contents/{pulled}?content=1")
    model["content"]["cells"].append({"cell_type": "markdown", "metadata": {}, "source": EDIT})
    alice.rest("PUT", f"/contents/{pulled}", json={"type": "notebook", "format": "json",
                                                 "content": model["content"]})
    alice.click(link)  # the lesson link again: nbgitpuller merges and keeps her edit
    assert EDIT in json.dumps(alice.rest("GET", f"/contents/{pulled}?content=1"))
    assert EDIT not in json.dumps(bob.rest("GET", f"/contents/{pulled}?content=1"))
    homes = tmp_path / "homes"
    assert EDIT in (homes / "alice" / pulled).read_text()
    assert EDIT not in (homes / "bob" / pulled).read_text()
    assert EDIT not in (repo / lesson).read_text()
    return timings + (f"\n  and the edit checks: {time.monotonic() - started:.1f} s; the hub "
                      f"started {len(hub.seen)} processes: {sorted(set(hub.seen.values()))}")
