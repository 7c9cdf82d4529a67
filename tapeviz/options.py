"""What to draw, decided in one place: :class:`ViewOptions`, and the :class:`Note` a view leaves.

The magic, the Python API and the interactive view all build one ``ViewOptions`` and hand it
down the pipeline; every default lives here and nowhere else.

>>> options = ViewOptions()
>>> options.budget, options.backward
(150, True)
>>> options.replace(budget=300, expand=["dense"]).expand
('dense',)
>>> ViewOptions().replace(bugdet=300)
Traceback (most recent call last):
...
TypeError: ViewOptions has no option 'bugdet'; the options are: backward, values, all_ops, \
depth, expand, budget, max_ops, static, replay

A note says what the picture leaves out, and the option that changes it; whoever shows it
words that option for its reader (``budget=212`` here, ``--budget 212`` in the magic):

>>> note = Note("collapsed", "Collapsed to 1 level(s).", (("budget", 212), ("all_ops", True)))
>>> str(note)
'Collapsed to 1 level(s). Use budget=212 or all_ops=True to see more.'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ViewOptions:
    """How to draw a recording. Frozen: change it with :meth:`replace`.

    >>> ViewOptions(all_ops=True).all_ops
    True
    """

    backward: bool = True         # draw the backward ops that tape.gradient ran
    values: bool = True           # show tensor values and gradients (else names, shapes only)
    all_ops: bool = False         # every op: no collapsed layers, no hidden bookkeeping ops
    depth: int | None = None      # keep this many levels of nested layers/functions
    expand: tuple[str, ...] = ()  # open the layers/functions with these names
    budget: int = 150             # drawn nodes (ops, boxes, tensors) before collapsing further
    max_ops: int = 400            # never lay out more boxes than this, whatever the rest says
    static: bool = False          # the static picture only, no interactive view
    replay: bool = False          # open the view on the backward pass, one step at a time

    def __post_init__(self) -> None:
        # a list (the magic's repeated --expand) or one name would make the options unhashable
        # or iterate over letters; a tuple of names is what every stage reads
        expand: str | Iterable[str] = self.expand
        object.__setattr__(self, "expand", (expand,) if isinstance(expand, str)
                           else tuple(expand))

    def replace(self, **changes: Any) -> ViewOptions:
        """These options with ``changes``; an unknown name is a TypeError listing the options.

        >>> ViewOptions().replace(depth=1, backward=False)
        ViewOptions(backward=False, values=True, all_ops=False, depth=1, expand=(), \
budget=150, max_ops=400, static=False, replay=False)
        """
        unknown = [name for name in changes if name not in OPTION_NAMES]
        if unknown:
            raise TypeError(f"ViewOptions has no option {unknown[0]!r}; the options are: "
                            + ", ".join(OPTION_NAMES))
        return dataclasses.replace(self, **changes)


OPTION_NAMES = tuple(f.name for f in dataclasses.fields(ViewOptions))
DEFAULTS = ViewOptions()  # frozen, so one shared instance is every stage's default


def chosen(options: ViewOptions | None, changes: dict[str, Any]) -> ViewOptions:
    """What ``show(rec, options, **changes)`` draws with: ``options`` (else the defaults),
    with the keyword ``changes`` winning.

    >>> chosen(ViewOptions(budget=300), {"all_ops": True}).budget
    300
    """
    return (options or DEFAULTS).replace(**changes)


def as_argument(option: str, value: Any) -> str:
    """An option as a Python user writes it: ``budget=300``, ``all_ops=True``.

    >>> as_argument("expand", ("dense",))
    "expand=('dense',)"
    """
    return f"{option}={value!r}"


@dataclass(frozen=True)
class Note:
    """What a picture leaves out (or what the recorder noticed), as data.

    ``text`` says what happened, in words for any reader; ``fixes`` are the ``(option, value)``
    pairs that show more, best first. :meth:`worded` names them the way its reader sets them.
    """

    kind: str    # "collapsed", "truncated" (the view) or "recording" (the recorder's own words)
    text: str
    fixes: tuple[tuple[str, Any], ...] = ()

    def worded(self, fix: Callable[[str, Any], str] = as_argument) -> str:
        """The note with its fixes spelled by ``fix`` (Python's ``budget=300`` by default).

        >>> Note("truncated", "Showing the first 9 of 30 boxes.", (("budget", 64),)).worded(
        ...     lambda option, value: f"--{option} {value}")
        'Showing the first 9 of 30 boxes. Use --budget 64 to see more.'
        """
        if not self.fixes:
            return self.text
        return f"{self.text} Use {' or '.join(fix(o, v) for o, v in self.fixes)} to see more."

    def __str__(self) -> str:
        return self.worded()
