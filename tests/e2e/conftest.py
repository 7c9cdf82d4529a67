"""Fixtures for the browser tests: one Jupyter server and one Chromium per session.

Run only these tests with ``.venv/bin/python -m pytest tests/e2e`` (or ``-m e2e``). They skip,
with the reason, only when Playwright or Debian's Chromium is missing (``.ci/setup`` installs
both), and fail instead when the ``CI`` environment variable is set. Artefacts go to
``tests/e2e/results/`` (ignored by git), wiped at the session start.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.jupyter import (
    CHROMIUM,
    CHROMIUM_ARGS,
    FIXTURES,
    LESSONS,
    RESULTS,
    JupyterServer,
    browser_missing,
    running_server,
    stage_notebook,
)

# The fixture notebooks are inputs of the browser tests, not nbval tests.
collect_ignore_glob = ["notebooks/*", "results/*"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "e2e: end-to-end test in a real Jupyter server and headless Chromium")


@pytest.fixture(scope="session")
def e2e_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The server's root dir: staged copies of the lessons; tests stage their own notebooks."""
    reason = browser_missing()
    if reason and os.environ.get("CI"):  # in CI a missing browser must not look green
        pytest.fail(f"the browser tests cannot run: {reason}")
    if reason:
        pytest.skip(reason)
    shutil.rmtree(RESULTS, ignore_errors=True)  # results of this run only
    RESULTS.mkdir(parents=True)
    root = tmp_path_factory.mktemp("jupyter-root")
    if LESSONS.is_dir():  # a lesson may read sibling files; each test stages its notebook
        shutil.copytree(LESSONS, root / "lessons", ignore=shutil.ignore_patterns(
            "*.ipynb", ".ipynb_checkpoints", "__pycache__"))
    return root


@pytest.fixture(scope="session")
def jupyter_server(e2e_root: Path, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[JupyterServer]:
    started = time.monotonic()
    with running_server(e2e_root, tmp_path_factory.mktemp("jupyter-dirs"),
                        RESULTS / "server.log") as server:
        print(f"\nJupyter server up in {time.monotonic() - started:.1f} s, log {server.log_path}")
        yield server


@pytest.fixture(scope="session")
def browser(e2e_root: Path) -> Iterator[object]:
    """Debian's Chromium, headless, driven by Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()


@pytest.fixture
def page(browser, jupyter_server: JupyterServer) -> Iterator[object]:
    """A fresh browser context and page; afterwards, every kernel is shut down."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    try:
        yield context.new_page()
    finally:
        context.close()
        jupyter_server.shutdown_kernels(wait=False)


@pytest.fixture
def stage(e2e_root: Path):
    """``stage(notebook, folder)``: copy a notebook (a fixture's name, or a path) into the
    server's root, outputs stripped and sentinel added; returns its path for the server.

    Staged per test, so a lesson that is not valid JSON yet fails only its own test.
    """

    def staged(notebook: str | Path, folder: str) -> str:
        source = Path(notebook) if isinstance(notebook, Path) else FIXTURES / notebook
        stage_notebook(source, e2e_root / folder / source.name)
        return f"{folder}/{source.name}"

    return staged
