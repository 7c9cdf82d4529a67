"""Notebook widgets (ipywidgets 8). ``SGDStepper`` steps through mini-batch SGD."""

from tapeviz.widgets.stepper import SGDStepper

__all__ = ["SGDStepper"]
