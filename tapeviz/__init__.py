"""tapeviz: see what TensorFlow's GradientTape recorded, and step through mini-batch SGD.

>>> import tapeviz
>>> with tapeviz.record() as rec:   # doctest: +SKIP
...     ...
>>> rec                             # doctest: +SKIP
(a graph of every op, tensor, variable and tape in the block)

In a notebook: ``%load_ext tapeviz`` then ``%%tape`` on any cell. TensorFlow is imported on
first use, not by ``import tapeviz``.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["record", "Recording", "replay_steps", "SGDStepper", "load_ipython_extension",
           "unload_ipython_extension"]

_LAZY = {
    "record": ("tapeviz.recorder", "record"),
    "Recording": ("tapeviz.recording", "Recording"),
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


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext tapeviz``: removes ``%%tape``."""
    ipython.magics_manager.magics["cell"].pop("tape", None)
