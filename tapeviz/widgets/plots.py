"""The stepper's plots: matplotlib figures shown as PNGs in ``ipywidgets.Image``s.

Drawing axes, ticks and text is most of matplotlib's time, so each plot keeps a picture of
everything but its data (the background) and redraws only the data on top of it. The axis
limits move in round steps (0 to 10, 20, 50, 100 steps; whole decades on a log scale), so the
background is redrawn only when the data crosses one of them, a new curve appears, or the
scale changes.

>>> plot = Plot("loss", log=True)
>>> plot.set_curves({"per step": ([1, 2, 3], [2.0, 1.0, 0.5])})
>>> plot.render()
>>> [float(v) for v in (*plot.axes.get_xlim(), *plot.axes.get_ylim())]
[0.0, 10.0, 0.1, 10.0]
>>> bytes(plot.image.value[:4])
b'\\x89PNG'
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from PIL import Image

from tapeviz.sgd import SGDEngine

MAX_POINTS = 2000  # the data view scatters at most this many examples
GRID = 60  # the decision boundary is the threshold contour of predictions on GRID x GRID


class Plot:
    """One line per name against the step; ``render()`` puts the PNG in ``image``."""

    def __init__(self, title: str, *, log: bool = False, xlabel: str = "step"):
        self.figure = Figure(figsize=(4.2, 2.8), dpi=80)
        self.canvas = FigureCanvasAgg(self.figure)
        self.axes = self.figure.add_subplot()
        self.axes.set_title(title, fontsize=10)
        self.axes.set_xlabel(xlabel, fontsize=9)
        self.figure.subplots_adjust(left=0.14, right=0.97, bottom=0.16, top=0.9)
        self.log = log
        self.lines: dict[str, Any] = {}
        self.image = widgets.Image(format="png")
        self._background: tuple[Any, Any] | None = None  # (what it shows, the saved pixels)

    def set_curves(self, curves: dict[str, tuple[Sequence[float], Sequence[float]]]) -> None:
        for name, (xs, ys) in curves.items():
            if name not in self.lines:
                (self.lines[name],) = self.axes.plot([], [], marker=".", markersize=4, label=name)
                self.axes.legend(loc="upper right", fontsize=8)
                self._background = None  # the legend changed
            ys = np.asarray(ys, dtype=float)
            self.lines[name].set_data(xs, np.where(np.isfinite(ys), ys, np.nan))
        xs = np.concatenate([line.get_xdata() for line in self.lines.values()] or [[]])
        ys = np.concatenate([line.get_ydata() for line in self.lines.values()] or [[]])
        ys = ys[np.isfinite(ys)]
        scale = "log" if self.log and ys.size and ys.min() > 0 else "linear"
        if scale != self.axes.get_yscale():
            self.axes.set_yscale(scale)
        self.axes.set_xlim(0, _round_up(max(xs, default=0)))
        self.axes.set_ylim(*(_decades(ys) if scale == "log" else _ticks(ys)))

    def dynamic(self) -> list[Any]:
        """The artists drawn over the background at every render."""
        return list(self.lines.values())

    def render(self) -> None:
        key = (self.axes.get_xlim(), self.axes.get_ylim(), self.axes.get_yscale())
        artists = [artist for artist in self.dynamic() if artist is not None]
        if self._background is None or self._background[0] != key:
            for artist in artists:
                artist.set_visible(False)
            self.canvas.draw()
            self._background = (key, self.canvas.copy_from_bbox(self.figure.bbox))
            for artist in artists:
                artist.set_visible(True)
        else:
            self.canvas.restore_region(self._background[1])
        for artist in artists:
            self.axes.draw_artist(artist)
        width, height = self.canvas.get_width_height()
        buffer = io.BytesIO()
        Image.frombuffer("RGBA", (width, height), self.canvas.buffer_rgba(), "raw", "RGBA", 0,
                         1).save(buffer, format="png", compress_level=1)
        self.image.value = buffer.getvalue()


class DataPlot(Plot):
    """The examples coloured by class, the last batch ringed, and the decision boundary."""

    def __init__(self, engine: SGDEngine, threshold: float):
        title = "data, last batch ○" + (" and boundary" if engine.model is not None else "")
        super().__init__(title, xlabel="x[:, 0]")
        self.axes.set_ylabel("x[:, 1]", fontsize=9)
        self.threshold = threshold
        x, labels = engine.x, engine.y.reshape(len(engine.y), -1)
        shown = np.random.default_rng(0).permutation(len(x))[:MAX_POINTS]
        colours = labels[:, 0] if labels.shape[1] == 1 else labels.argmax(axis=1)
        self.axes.scatter(x[shown, 0], x[shown, 1], c=colours[shown], s=6, cmap="coolwarm",
                          alpha=0.6)
        self.batch_points = self.axes.scatter(np.empty(0), np.empty(0), s=28,
                                              facecolors="none", edgecolors="black",
                                              linewidths=0.7)
        low, high = x.min(axis=0), x.max(axis=0)
        margin = 0.05 * (high - low)
        (x0, y0), (x1, y1) = low - margin, high + margin
        self.axes.set_xlim(x0, x1)
        self.axes.set_ylim(y0, y1)
        self.grid = np.meshgrid(np.linspace(x0, x1, GRID), np.linspace(y0, y1, GRID))
        self.points = np.column_stack([g.ravel() for g in self.grid]).astype(x.dtype)
        self.scores: np.ndarray | None = None  # the model on the grid points, at the last read
        self.boundary = None  # the matplotlib ContourSet, when the boundary is in view
        self._batch = np.empty((0, 2), x.dtype)

    def dynamic(self) -> list[Any]:
        return [self.batch_points, self.boundary]

    def read(self, engine: SGDEngine) -> None:
        """Take what the view shows from the engine (with the stepper's lock held)."""
        batch = engine.last_batch if engine.last_batch is not None else []
        self._batch = engine.x[batch].reshape(-1, 2)
        self.scores = None if engine.model is None else _evaluate(engine.model, self.points)

    def update(self) -> None:
        self.batch_points.set_offsets(self._batch)
        if self.boundary is not None:
            self.boundary.remove()
            self.boundary = None
        scores = self.scores
        if scores is None or not np.all(np.isfinite(scores)):
            return
        if scores.shape[1] == 1:
            field, levels = scores[:, 0], [self.threshold]
        else:  # one score per class: the boundaries are where the top class changes
            field, levels = scores.argmax(axis=1), np.arange(scores.shape[1] - 1) + 0.5
        field = field.reshape(self.grid[0].shape)
        if field.min() < levels[-1] and levels[0] < field.max():
            self.boundary = self.axes.contour(*self.grid, field, levels=levels,
                                              colors="black", linewidths=1.2)


def _evaluate(model: Callable[[Any], Any], points: np.ndarray) -> np.ndarray | None:
    """The model's scores on the points, one row per point; None if it can't say."""
    try:
        scores = np.asarray(model(points))
    except Exception:  # a model that rejects the grid just gets no boundary drawn
        return None
    if scores.size == 0 or scores.size % len(points):
        return None
    return scores.reshape(len(points), -1).astype(float)


def _round_up(value: float) -> float:
    """The next of 10, 20, 50, 100, 200, ... at or above ``value``."""
    if value <= 10:
        return 10.0
    power = 10 ** math.floor(math.log10(value))
    return float(next(step * power for step in (1, 2, 5, 10) if step * power >= value))


def _decades(values: np.ndarray) -> tuple[float, float]:
    low, high = math.floor(math.log10(values.min())), math.ceil(math.log10(values.max()))
    return 10.0**low, 10.0 ** max(high, low + 1)


def _ticks(values: np.ndarray) -> tuple[float, float]:
    """Limits on round tick values around the data (0 to 1 with none)."""
    if not values.size:
        return 0.0, 1.0
    low, high = float(values.min()), float(values.max())
    if low == high:
        low, high = low - max(abs(low), 1.0) * 0.1, high + max(abs(high), 1.0) * 0.1
    ticks = MaxNLocator(nbins=5).tick_values(low, high)
    return float(ticks[0]), float(ticks[-1])
