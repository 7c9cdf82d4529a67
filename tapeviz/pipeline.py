"""The one module that knows every stage: Recording -> collapse -> graph -> render.

``tapeviz.show`` and ``tapeviz.to_dot`` are these functions. They take a
:class:`~tapeviz.options.ViewOptions`, or its fields as keywords, or both (the keywords win):

>>> import tapeviz
>>> with tapeviz.record() as rec:              # doctest: +SKIP
...     ...
>>> drawing = tapeviz.show(rec, budget=300)    # doctest: +SKIP
>>> drawing.save("graph.svg")                  # doctest: +SKIP
>>> [str(note) for note in drawing.notes]      # doctest: +SKIP
['Collapsed to 1 level(s) of layers/functions to stay within 300 nodes. Use budget=412 or
all_ops=True to see more.']
>>> tapeviz.to_dot(rec, all_ops=True)          # doctest: +SKIP
'digraph tapeviz {...'

(Not named ``show.py``: importing a submodule ``tapeviz.show`` would replace the function
``tapeviz.show`` with the module.)
"""

from __future__ import annotations

from typing import Any

from tapeviz.graph import build_with_notes
from tapeviz.options import ViewOptions, chosen
from tapeviz.recording import Recording
from tapeviz.render import Drawing


def show(rec: Recording, options: ViewOptions | None = None, **changes: Any) -> Drawing:
    """``rec`` drawn: shows itself in notebooks, saves to files, carries its notes.

    ``changes`` are :class:`ViewOptions` fields (``budget=300``, ``all_ops=True``, ...); an
    unknown one is a TypeError that lists them.
    """
    graph, notes = build_with_notes(rec, chosen(options, changes))
    return Drawing(graph.source, rec.summary(), notes=notes)


def to_dot(rec: Recording, options: ViewOptions | None = None, **changes: Any) -> str:
    """The DOT source of :func:`show`'s picture (the same options)."""
    return build_with_notes(rec, chosen(options, changes))[0].source
