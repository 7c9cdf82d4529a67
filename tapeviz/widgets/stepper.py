"""``SGDStepper``: buttons and live plots around an :class:`~tapeviz.sgd.SGDEngine`.

Plots are matplotlib figures (the object API, not pyplot, so nothing leaks into the cell's
output) rendered to PNG inside ``ipywidgets.Image``s and replaced in place: no flicker and no
``clear_output``. Step, Epoch, Play and Reset share one render path: the click (or the playing
step) updates the status line at once and asks for a redraw; a drawing thread then draws the
newest state, at most every ``redraw_interval`` seconds, so clicks never wait for matplotlib
and a burst of them costs one redraw. ``flush()`` waits until the views have caught up.

>>> from tapeviz.sgd import SGDEngine, two_blobs
>>> import tensorflow as tf
>>> x, y = two_blobs(n_per_class=50)
>>> W, b = tf.Variable(tf.ones((2, 1))), tf.Variable(tf.zeros((1,)))
>>> def square_loss(bx, by):
...     return tf.reduce_mean(tf.square(by - (tf.matmul(bx, W) + b)))
>>> stepper = SGDStepper(SGDEngine.from_variables(x, y, {"W": W, "b": b}, square_loss, 0.1))
>>> stepper.step_button.click()
>>> stepper.flush()
>>> stepper.engine.step_count, len(stepper.loss_plot.lines["per step"].get_ydata())
(1, 1)
"""

from __future__ import annotations

import html
import math
import threading
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from tapeviz.pipeline import show
from tapeviz.recorder import record
from tapeviz.sgd import NonFiniteLossError, SGDEngine, epoch_losses
from tapeviz.widgets.numbers import numbers_html
from tapeviz.widgets.plots import DataPlot, Plot
from tapeviz.widgets.render import Renderer


class SGDStepper(widgets.VBox):
    """Step, play and reset mini-batch SGD and watch loss, gradients, weights and data.

    On 2-feature data the data view draws the decision boundary of ``engine.model`` (the
    Keras model, or the ``model=`` you gave the engine), evaluated on a grid: where its score
    crosses ``threshold``, or, with several outputs per example, where the top class changes.
    """

    def __init__(
        self, engine: SGDEngine, *, threshold: float = 0.5, redraw_interval: float = 0.05,
    ):
        self.engine = engine
        self._lock = threading.RLock()  # one step or setting change at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._renderer = Renderer(self._draw, redraw_interval,
                                  on_error=lambda text: self._say(f"Drawing failed: {text}"))

        self.step_button = widgets.Button(description="Step", tooltip="Train on the next batch")
        self.epoch_button = widgets.Button(description="Epoch",
                                           tooltip="Train to the end of this epoch")
        self.play_button = widgets.Button(description="▶ Play")
        self.reset_button = widgets.Button(description="Reset",
                                           tooltip="Back to the initial weights and batch order")
        self.speed = widgets.IntSlider(value=10, min=1, max=100, description="steps/s")
        lr = engine.learning_rate or 0.1
        self.lr_slider = widgets.FloatLogSlider(
            value=lr, base=10, step=0.1, min=min(-4, math.floor(math.log10(lr)) - 1),
            max=max(1, math.ceil(math.log10(lr)) + 1), description="learning rate",
            readout_format=".3g", disabled=not engine.can_set_learning_rate,
        )
        self.batch_size = widgets.Dropdown(
            options=_batch_sizes(len(engine.x), engine.batch_size), value=engine.batch_size,
            description="batch size",
        )
        self.shuffle = widgets.Checkbox(value=engine.shuffle, description="shuffle",
                                        tooltip="Takes effect at the next epoch")
        self.progress = widgets.FloatProgress(min=0.0, max=1.0, description="epoch 0")
        self.loss_label = widgets.HTML()
        self.message = widgets.HTML()
        self.numbers = widgets.HTML()

        kind = "weight change |Δw|" if engine.mode == "step_fn" else "gradient norm |g|"
        self.loss_plot = Plot("loss", log=True)
        self.grad_plot = Plot(f"{kind} per variable", log=True)
        self.metrics_plot = Plot("metrics (epoch to date)") if engine.metric_names else None
        self.data_plot = None
        if engine.x.ndim == 2 and engine.x.shape[1] == 2:
            self.data_plot = DataPlot(engine, threshold)
        plots = [self.loss_plot, self.metrics_plot, self.grad_plot, self.data_plot]
        self._plots = [plot for plot in plots if plot is not None]

        self.tape_button = widgets.Button(description="Step and show its tape",
                                          tooltip="Take the next step inside tapeviz.record()")
        self.tape_output = widgets.Output()
        self.tape_box = widgets.Accordion(
            children=[widgets.VBox([self.tape_button, self.tape_output])],
            titles=("%%tape graph of one step",),
        )

        self.step_button.on_click(lambda _: self._clicked(self._advance))
        self.epoch_button.on_click(lambda _: self._clicked(self._finish_epoch))
        self.play_button.on_click(lambda _: self.pause() if self.playing else self.play())
        self.reset_button.on_click(lambda _: self._clicked(self._reset))
        self.tape_button.on_click(lambda _: self._clicked(self._step_with_tape))
        self.lr_slider.observe(self._set("learning_rate"), "value")
        self.batch_size.observe(self._set("batch_size"), "value")
        self.shuffle.observe(self._set("shuffle"), "value")

        wrap = widgets.Layout(flex_flow="row wrap")
        super().__init__([
            widgets.HBox([self.step_button, self.epoch_button, self.play_button,
                          self.reset_button, self.speed], layout=wrap),
            widgets.HBox([self.lr_slider, self.batch_size, self.shuffle], layout=wrap),
            widgets.HBox([self.progress, self.loss_label], layout=wrap),
            self.message,
            widgets.HBox([plot.image for plot in self._plots], layout=wrap),
            self.numbers,
            self.tape_box,
        ])
        self.refresh()

    # -- play / pause -----------------------------------------------------------------------

    @property
    def playing(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def play(self) -> None:
        """Step in a background thread at ``speed`` steps/s until ``pause()`` or a nan loss."""
        if self.playing:
            return
        self._stop.clear()
        self.play_button.description = "⏸ Pause"
        self._thread = threading.Thread(target=self._play_loop, name="SGDStepper", daemon=True)
        self._thread.start()

    def pause(self) -> None:
        """Stop playing after the step in progress (a step is never cut in half)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    @property
    def redraw_interval(self) -> float:
        """The views are redrawn at most this often (seconds); labels update at once."""
        return self._renderer.interval

    @redraw_interval.setter
    def redraw_interval(self, seconds: float) -> None:
        self._renderer.interval = seconds

    def refresh(self) -> None:
        """Redraw everything, e.g. after calling ``stepper.engine.step()`` yourself."""
        with self._lock:
            self._show()
        self.flush()

    def flush(self, timeout: float | None = None) -> None:
        """Wait until the plots and numbers show the state of the last step."""
        self._renderer.flush(timeout)

    def close(self) -> None:
        self.pause()
        self._renderer.close()
        super().close()

    def _play_loop(self) -> None:
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                with self._lock:
                    going = self._advance()
                    self._show()
                if not going:
                    break
                self._stop.wait(1 / self.speed.value - (time.monotonic() - started))
        finally:
            with self._lock:
                self._show()
            self.play_button.description = "▶ Play"

    # -- actions (called with the lock held) -------------------------------------------------

    def _clicked(self, action: Callable[[], Any]) -> None:
        self.pause()
        with self._lock:
            try:
                action()
            finally:  # even after an interrupt, show the state as it is
                self._show()

    def _advance(self, step: Callable[[], Any] | None = None) -> bool:
        """One engine step; False when training should stop (the message says why)."""
        try:
            (step or self.engine.step)()
        except NonFiniteLossError as err:  # the step happened: show it, then stop
            self._say(f"Paused: {err}")
            return False
        except Exception as err:  # tracebacks of widget callbacks are invisible to learners
            self._say(f"Stopped: {type(err).__name__}: {err}")
            return False
        if self.message.value:
            self.message.value = ""
        return True

    def _finish_epoch(self) -> None:
        epoch = self.engine.epoch
        while self.engine.epoch == epoch and self._advance():
            pass

    def _reset(self) -> None:
        self.engine.reset()
        self.message.value = ""

    def _step_with_tape(self) -> None:
        recordings = []

        def recorded_step() -> None:  # only the step: the views' own reads stay out
            with record(namespace=dict(self.engine.variables)) as recording:
                recordings.append(recording)
                self.engine.step()

        self._advance(recorded_step)
        if recordings:
            data = show(recordings[0])._repr_mimebundle_()  # the IPython display protocol
            self.tape_output.outputs = ({"output_type": "display_data", "data": data,
                                         "metadata": {}},)
            self.tape_box.selected_index = 0

    def _set(self, setting: str) -> Callable[[dict], None]:
        def observer(change: dict) -> None:
            with self._lock:
                setattr(self.engine, setting, change["new"])
                self._show(draw=False)

        return observer

    def _say(self, text: str) -> None:
        self.message.value = f"<b style='color:#b00'>⚠ {html.escape(text)}</b>"

    # -- views ------------------------------------------------------------------------------

    def _show(self, *, draw: bool = True) -> None:
        """The status line now (called with the lock held); the rest by the drawing thread."""
        engine = self.engine
        self.loss_label.value = _status(engine)
        self.progress.value = engine.progress
        self.progress.description = f"epoch {engine.epoch}"
        if draw:
            self._renderer.request()

    def _draw(self) -> None:
        """Runs in the drawing thread: read a consistent state, then draw without the lock."""
        with self._lock:
            history = list(self.engine.history)
            if self.data_plot is not None:
                self.data_plot.read(self.engine)
        self.numbers.value = numbers_html(history[-1] if history else None)
        steps = [r.step for r in history]
        ends = epoch_losses(history)
        self.loss_plot.set_curves({
            "per step": (steps, [r.loss for r in history]),
            "epoch mean": ([step for step, _ in ends], [loss for _, loss in ends]),
        })
        self.grad_plot.set_curves({
            name: (steps, [(r.grad_norms or r.change_norms)[name] for r in history])
            for name in self.engine.variables
        })
        if self.metrics_plot is not None:
            self.metrics_plot.set_curves({
                name: (steps, [r.metrics[name] for r in history])
                for name in self.engine.metric_names
            })
        if self.data_plot is not None:
            self.data_plot.update()
        for plot in self._plots:
            plot.render()


def _batch_sizes(n: int, current: int) -> list[tuple[str, int]]:
    sizes = sorted({2**k for k in range(int(math.log2(n)) + 1)} | {current, n})
    return [(f"{size} (all)" if size == n else str(size), size) for size in sizes if size <= n]


def _status(engine: SGDEngine) -> str:
    upcoming = f"next: batch {engine.batch_index} of {engine.batches_in_epoch}"
    if not engine.history:
        return f"No steps yet; {upcoming}."
    last = engine.history[-1]
    parts = [f"step {last.step} (epoch {last.epoch}, batch {last.batch})",
             f"<b>loss {last.loss:.4g}</b>"]
    parts += [f"{name} {value:.4g}" for name, value in last.metrics.items()]
    return " · ".join([*parts, upcoming])
