"""Print how each picture reads: its size in px, its nodes and edges, its edge crossings, and
how many of its backward passes are drawn right of their tape (of those drawn with their tape).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/layout_report.py [REC.json ...] [--png DIR]

The cases are the golden recordings (tests/golden/*.json) and any recording given (as saved by
``tapeviz.serialize.dumps``, e.g. by ``benchmarks/lesson_dots.py``); a ``REC.options.json`` beside
one holds its drawing options (``{"backward": false}``). Run it on two versions of
``tapeviz/graph.py`` to compare their layouts; ``--png DIR`` also writes each picture there.
"""

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT))  # PYTHONPATH decides which tapeviz is measured

from tapeviz.pipeline import to_dot  # noqa: E402
from tapeviz.render import render  # noqa: E402
from tapeviz.serialize import loads  # noqa: E402
from tests.layout import Picture, passes_right_of_tapes  # noqa: E402


def measure(path: Path, png_dir: Path | None) -> tuple[str, dict[int, bool]]:
    options_file = path.with_suffix(".options.json")
    options = json.loads(options_file.read_text()) if options_file.exists() else {}
    rec = loads(path.read_text())
    dot = to_dot(rec, **options)
    start = time.perf_counter()
    picture = Picture.from_svg(render(dot, "svg").decode())
    seconds = time.perf_counter() - start
    if png_dir is not None:
        (png_dir / f"{path.stem}.png").write_bytes(render(dot, "png"))
    width, height = picture.size_px
    right = passes_right_of_tapes(rec, dot, picture)
    return (f"{path.stem:24} {width:6} {height:6} {len(picture.boxes):6} "
            f"{len(picture.edges):6} {picture.crossings():9} {seconds:7.2f} "
            f"{sum(right.values()):>4}/{len(right)}"), right


def main(args: list[str]) -> None:
    png_dir = Path(args[args.index("--png") + 1]) if "--png" in args else None
    given = [Path(a) for a in args if a.endswith(".json") and not a.endswith(".options.json")]
    if png_dir is not None:
        png_dir.mkdir(parents=True, exist_ok=True)
    print(f"{'case':24} {'width':>6} {'height':>6} {'nodes':>6} {'edges':>6} "
          f"{'crossings':>9} {'layout s':>7} {'right':>6}")
    right: list[bool] = []
    for path in sorted((ROOT / "tests" / "golden").glob("*.json")) + given:
        line, passes = measure(path, png_dir)
        right += passes.values()
        print(line, flush=True)
    print(f"backward passes drawn right of their tape: {sum(right)} of {len(right)}")


if __name__ == "__main__":
    main(sys.argv[1:])
