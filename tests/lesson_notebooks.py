"""Reading the lessons' stored notebooks: their cells, tags and outputs as plain text."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

LESSONS_DIR = Path(__file__).resolve().parent.parent / "lessons"
LESSONS = sorted(LESSONS_DIR.glob("*.ipynb"))


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def source(cell: dict) -> str:
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else text


def tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def code_cells(notebook: dict) -> Iterator[tuple[int, dict]]:
    """(index among all cells, cell) for each code cell."""
    return ((i, c) for i, c in enumerate(notebook["cells"]) if c["cell_type"] == "code")


def _joined(value: str | list[str]) -> str:
    return "".join(value) if isinstance(value, list) else value


def output_texts(cell: dict) -> Iterator[tuple[str, str]]:
    """(kind, text) of each stored output a reader sees as text.

    Kinds: ``stdout``/``stderr`` (streams), ``text/plain`` (displayed values) and ``error``
    (an exception's name, message and traceback). Pictures (SVG, HTML, PNG) are left out.
    """
    for output in cell.get("outputs", []):
        kind = output["output_type"]
        if kind == "stream":
            yield output["name"], _joined(output["text"])
        elif kind in ("execute_result", "display_data") and "text/plain" in output["data"]:
            yield "text/plain", _joined(output["data"]["text/plain"])
        elif kind == "error":
            yield "error", "\n".join([f"{output['ename']}: {output['evalue']}",
                                      *output.get("traceback", [])])


def svg_outputs(cell: dict) -> Iterator[str]:
    for output in cell.get("outputs", []):
        if "image/svg+xml" in output.get("data", {}):
            yield _joined(output["data"]["image/svg+xml"])


def stdout(cell: dict) -> str:
    return "".join(text for kind, text in output_texts(cell) if kind == "stdout")
