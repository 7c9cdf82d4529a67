"""DOT -> SVG/PNG. The only module that runs a Graphviz engine.

Two engines are supported:

- ``"pure"``: the ``graphviz-pure`` program, a pip-installed, self-contained port of Graphviz
  (a dependency of tapeviz, so ``pip install tapeviz`` alone draws graphs);
- ``"system"``: the ``dot`` program of a system Graphviz (``apt install graphviz``, ...).

``"auto"`` (the default, or the ``TAPEVIZ_ENGINE`` environment variable) prefers ``pure`` and
falls back to ``system``. Rendering failures raise :class:`RenderError` with what failed and
what to do; :class:`Drawing` turns them into text in notebooks and never raises there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from tapeviz.graph import escape
from tapeviz.options import Note

Engine = Literal["auto", "pure", "system"]
FORMATS = ("svg", "png", "dot", "text")
TIMEOUT_S = 60
NOTES_STYLE = ("font-family:sans-serif;font-size:12px;color:#7f6000;background:#fffbea;"
               "border-left:3px solid #f1c232;padding:4px 8px;margin-top:4px")

INSTALL_HINT = ("Install an engine with `pip install graphviz-pure` (no system packages needed)"
                " or your system's Graphviz (`apt install graphviz`, `brew install graphviz`,"
                " `conda install graphviz`).")


class RenderError(RuntimeError):
    """Rendering failed; the message says what failed and what to do."""


def find_engine(engine: Engine | None = None) -> list[str]:
    """The command line prefix of the engine to run, e.g. ``['/venv/bin/graphviz-pure']``."""
    engine = engine or os.environ.get("TAPEVIZ_ENGINE", "auto")  # type: ignore[assignment]
    if engine not in ("auto", "pure", "system"):
        raise RenderError(f"Unknown Graphviz engine {engine!r}: use 'auto', 'pure' or 'system'.")
    candidates = {"pure": ["graphviz-pure"], "system": ["dot"],
                  "auto": ["graphviz-pure", "dot"]}[engine]
    for program in candidates:
        path = _which(program)
        if path:
            return [path]
    wanted = " or ".join(f"`{c}`" for c in candidates)
    raise RenderError(f"No Graphviz engine found: {wanted} is not installed or not on PATH. "
                      + INSTALL_HINT)


def render(dot_source: str, fmt: Literal["svg", "png"] = "svg",
           engine: Engine | None = None) -> bytes:
    """Lay out and render DOT source; raise :class:`RenderError` with advice on failure."""
    command = [*find_engine(engine), f"-T{fmt}"]
    try:
        done = subprocess.run(command, input=dot_source.encode(), capture_output=True,
                              timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as error:
        raise RenderError(f"Graphviz took more than {TIMEOUT_S} s to lay out this graph. "
                          "Draw less of it (for example without the backward pass).") from error
    except OSError as error:
        raise RenderError(f"Could not run {command[0]}: {error}. " + INSTALL_HINT) from error
    if done.returncode != 0 or not done.stdout:
        message = done.stderr.decode(errors="replace").strip() or "no output"
        raise RenderError(f"Graphviz ({Path(command[0]).name}) failed with exit code "
                          f"{done.returncode}: {message}")
    return done.stdout


class Drawing:
    """A rendered view of a recording: shows itself in notebooks and saves to files.

    >>> drawing = Drawing('digraph { a -> b }', 'two nodes')
    >>> drawing.svg().startswith('<?xml')
    True
    """

    def __init__(self, dot_source: str, text: str, engine: Engine | None = None,
                 notes: Sequence[Note] = ()) -> None:
        self.source = dot_source
        self.text = text
        self.engine = engine
        self.notes = list(notes)  # what the picture leaves out, and why: worded by its reader

    def svg(self) -> str:
        return render(self.source, "svg", self.engine).decode()

    def png(self) -> bytes:
        return render(self.source, "png", self.engine)

    def save(self, path: str | os.PathLike[str], fmt: str | None = None) -> Path:
        """Write the picture; the format comes from ``fmt`` or the file's extension."""
        path = Path(path)
        fmt = output_format(path, fmt)
        content = {"svg": self.svg, "png": self.png, "dot": lambda: self.source,
                   "text": lambda: self.text}[fmt]()
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return path

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        try:
            return {"image/svg+xml": self.svg(), "text/plain": self.text}
        except Exception as error:  # a notebook display must never raise
            return {"text/plain": f"{self.text}\n\ntapeviz could not draw this graph: {error}"
                                  f"\n\nDOT source:\n{self.source}"}

    def __repr__(self) -> str:
        return self.text


def output_format(path: str | os.PathLike[str], fmt: str | None = None) -> str:
    """The format to write ``path`` in: ``fmt``, else from its extension; else RenderError."""
    path = Path(path)
    fmt = fmt or {".gv": "dot", ".txt": "text"}.get(path.suffix, path.suffix.lstrip("."))
    if fmt not in FORMATS:
        raise RenderError(f"Cannot write {path.name}: unknown format {fmt!r}. "
                          f"Use one of {', '.join(FORMATS)} (or the .gv/.txt extensions).")
    return fmt


class Notes:
    """tapeviz's own words under a picture: one display output, never the cell's stdout.

    >>> html = Notes(["<b> is escaped"])._repr_mimebundle_()["text/html"]
    >>> "<li>&lt;b&gt; is escaped</li>" in html
    True
    """

    def __init__(self, lines: Sequence[str], details: str = "") -> None:
        self.lines = list(lines)
        self.details = details  # e.g. tapeviz's traceback, with --debug

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        text = "\n".join(self.lines + ([self.details] if self.details else []))
        items = "".join(f"<li>{escape(line)}</li>" for line in self.lines)
        details = (f"<details><summary>tapeviz traceback</summary><pre>"
                   f"{escape(self.details)}</pre></details>" if self.details else "")
        return {"text/plain": text,
                "text/html": f'<div class="tapeviz-notes" style="{NOTES_STYLE}"><ul '
                             f'style="margin:0;padding-left:1.2em">{items}</ul>{details}</div>'}

    def __repr__(self) -> str:
        return self._repr_mimebundle_()["text/plain"]


def _which(program: str) -> str | None:
    # The venv's own bin folder first: a notebook kernel's PATH often lacks it.
    beside_python = Path(sys.executable).parent / program
    if beside_python.exists():
        return str(beside_python)
    return shutil.which(program)
