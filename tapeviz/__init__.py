"""tapeviz: see what TensorFlow's GradientTape recorded, and step through mini-batch SGD.

>>> import tapeviz
>>> with tapeviz.record() as rec:   # doctest: +SKIP
...     ...
>>> rec                             # doctest: +SKIP
(in IPython: a graph of every op, tensor, variable and tape in the block)
>>> tapeviz.show(rec, budget=300).save("graph.svg")  # doctest: +SKIP
>>> tapeviz.to_dot(rec, all_ops=True)                # doctest: +SKIP

In a notebook: ``%load_ext tapeviz`` then ``%%tape`` on any cell. TensorFlow is imported on
first use, not by ``import tapeviz``.
"""

from __future__ import annotations

import sys
from typing import Any

__version__ = "0.1.0"
__all__ = ["record", "Recording", "show", "view", "to_dot", "ViewOptions", "replay_steps",
           "SGDStepper", "load_ipython_extension", "unload_ipython_extension"]

_LAZY = {
    "record": ("tapeviz.recorder", "record"),
    "Recording": ("tapeviz.recording", "Recording"),
    "show": ("tapeviz.pipeline", "show"),
    "view": ("tapeviz.widgets.view", "view"),
    "to_dot": ("tapeviz.pipeline", "to_dot"),
    "ViewOptions": ("tapeviz.options", "ViewOptions"),
    "replay_steps": ("tapeviz.replay", "replay_steps"),
    "SGDStepper": ("tapeviz.widgets.stepper", "SGDStepper"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'tapeviz' has no attribute {name!r}")
    import importlib

    module, attribute = _LAZY[name]
    return getattr(importlib.import_module(module), attribute)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext tapeviz``: registers ``%%tape``. Loading twice is harmless."""
    from tapeviz.magics import TapeMagics

    ipython.register_magics(TapeMagics)
    _display_recordings(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext tapeviz``: removes ``%%tape``."""
    ipython.magics_manager.magics["cell"].pop("tape", None)


def _display_recordings(ipython: Any) -> None:
    """In IPython a Recording shows as its picture: the data model knows nothing of drawing,
    so the display is registered here, by name, importing no stage until one is shown."""
    formatter = ipython.display_formatter.mimebundle_formatter
    formatter.for_type_by_name("tapeviz.recording", "Recording", _recording_bundle)


def _recording_bundle(rec: Any) -> dict[str, str]:
    from tapeviz.pipeline import show

    return show(rec)._repr_mimebundle_()


if "IPython" in sys.modules and sys.modules["IPython"].get_ipython() is not None:
    _display_recordings(sys.modules["IPython"].get_ipython())  # `import tapeviz` in a notebook
