"""The ``%%tape`` cell magic: parse options, record the cell with :func:`tapeviz.record`, show.

The cell runs as a real cell (``shell.run_cell``), so it prints, displays its last value and
raises exactly as it would without the magic. An error in it is shown once, with the user's
own traceback, and still fails the cell (so "run all" stops there, as it would).
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from IPython.core.displayhook import DisplayHook
from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import Image, display

from tapeviz.firewall import guarded
from tapeviz.options import DEFAULTS, ViewOptions
from tapeviz.pipeline import show
from tapeviz.recording import check_text
from tapeviz.render import FORMATS, Notes, RenderError, output_format


@magics_class
class TapeMagics(Magics):
    @magic_arguments()
    @argument("--name", metavar="VAR",
              help="Also bind the Recording to VAR in the notebook (it is always bound to _tape).")
    @argument("--no-backward", action="store_true",
              help="Hide the backward ops that tape.gradient ran.")
    @argument("--no-values", action="store_true",
              help="Hide tensor values (show names, dtypes and shapes only).")
    @argument("--format", choices=FORMATS, default="svg",
              help="What to show: svg (default), png, dot (the DOT source) or text (a summary).")
    @argument("--output", metavar="FILE",
              help="Also write the picture to FILE; the format comes from its extension "
                   "(.svg, .png, .dot/.gv, .txt), else from --format.")
    @argument("--quiet", action="store_true",
              help="Record only: show nothing (the Recording is still bound to _tape).")
    @argument("--all-ops", action="store_true",
              help="Draw every op: no collapsing of layers, no hiding of bookkeeping ops.")
    @argument("--depth", type=int, metavar="N",
              help="Collapse nested layers/functions below N levels (1: outermost only).")
    @argument("--expand", action="append", default=[], metavar="NAME",
              help="Open the layer or function called NAME (repeatable).")
    @argument("--budget", type=int, default=DEFAULTS.budget, metavar="N",
              help="Collapse further when more than N nodes would be drawn "
                   f"(default {DEFAULTS.budget}).")
    @argument("--static", action="store_true",
              help="Show the static picture only, without the interactive view.")
    @argument("--replay", action="store_true",
              help="Open the view on the backward pass, replayed one step at a time.")
    @argument("--target", metavar="EXPR",
              help="Show d EXPR / d node on every tensor (EXPR is evaluated after the cell, "
                   "e.g. loss). Default: the target of the cell's last tape.gradient call.")
    @argument("--sources", metavar="NAMES",
              help="Comma-separated names the gradient is taken with respect to (for the "
                   "diagnostics and --check). Default: the sources of that call.")
    @argument("--check", action="store_true",
              help="Compare the tape's gradients of the sources with central finite "
                   "differences (small float sources) and report the largest difference.")
    @argument("--debug", action="store_true",
              help="If tapeviz itself fails after the cell ran, show its traceback (to "
                   "report the bug); the cell's own output and result stay as they are.")
    @cell_magic
    def tape(self, line: str, cell: str) -> Any:
        """Run the cell unchanged and draw every TensorFlow op it executed.

        The graph shows ops (yellow: forward, red: backward, that is the ops `tape.gradient`
        ran), tensors with their Python names, shapes and values, variables (blue), constants
        (grey), and each GradientTape and gradient call as a box around the ops it recorded
        or ran. Nested tapes nest. Each tensor shows d target / d tensor ("grad") for the
        cell's last tape.gradient call (or --target), and the backward ops are grouped under
        the forward op they differentiate: the chain rule, one step at a time. If a gradient
        is None, a warning under the picture says why and the graph marks the spot.

        Keras layers (and your own Python functions) are drawn as one box each, and
        bookkeeping ops (Shape, Reshape of gradients, ...) are hidden; --all-ops, --depth,
        --expand and --budget change that.

        In a notebook the picture comes with an interactive view: drag to pan, wheel to zoom,
        click a box to open it in place, hover a tensor for its value and gradient, search
        names, and "Replay backward" to walk through the chain rule one step at a time
        (--replay opens the view there; --static shows the picture alone). A notebook read
        without a kernel shows the picture.

        What the cell prints, returns and raises is exactly what it would without %%tape:
        tapeviz's own notes (warnings, checks, why nothing was drawn) come as one display
        output under the picture, never on stdout. If tapeviz itself fails, the cell still
        ran normally and a note says so.

        Example:

            %%tape
            x = tf.Variable(3.0)
            with tf.GradientTape() as tape:
                y = tf.square(x)
            dy_dx = tape.gradient(y, x)

        After the cell, `_tape` holds the Recording: `_tape.ops`, `_tape.summary()`,
        `_tape.named("dy_dx").value`, `tapeviz.to_dot(_tape)`. The same works in a script
        with `with tapeviz.record() as rec: ...` and `tapeviz.show(rec, budget=300)`: the
        drawing options here are the fields of `tapeviz.ViewOptions` (--all-ops is
        all_ops=True, --no-values is values=False).
        """
        try:
            args = parse_argstring(self.tape, line)
        except UsageError as error:
            usage = " ".join(self.tape.__doc__.split("\n\n")[1].split())  # "%%tape [--name..."
            raise UsageError(f"{error}\nUsage: {usage}\nSee %%tape? for what each option "
                             "does.") from None
        if args.output:
            _check_output(args.output, args.format)
        from tapeviz.recorder import record

        shell = self.shell
        sources = [n.strip() for n in args.sources.split(",") if n.strip()] if args.sources \
            else None
        with record(shell.user_ns, target=args.target, sources=sources,
                    check=args.check) as recording:
            cell_run = _run_cell(shell, cell)
        shell.user_ns["_tape"] = recording
        if args.name:
            shell.user_ns[args.name] = recording
        if cell_run.ran:
            _present(shell, recording, args)
        return cell_run.value_or_raise()


# magic_arguments names every magic "%name"; this one is a cell magic
TapeMagics.tape.__doc__ = TapeMagics.tape.__doc__.replace("%tape [", "%%tape [", 1)


class CellFailed(Exception):
    """The cell failed before it ran (a SyntaxError); the error is shown above, as usual."""


@dataclass
class _CellRun:
    """How the inner run of a cell ended: its last value, or its error as IPython showed it."""

    value: Any = None
    ran: bool = True  # False when it failed before running (a SyntaxError)
    error: BaseException | None = None
    shown_traceback: list[str] = field(default_factory=list)

    def value_or_raise(self) -> Any:
        """Return the value for the outer cell to display, or fail the outer cell.

        The user's own exception is raised again, rendered with the traceback IPython already
        formatted for their code, so it is shown once and without tapeviz's frames.
        """
        if self.error is None:
            return self.value
        error, shown = self.error, self.shown_traceback
        if isinstance(error, SyntaxError):  # IPython re-formats those itself: keep its text
            error = CellFailed(str(error))
        with contextlib.suppress(AttributeError, TypeError):
            error._render_traceback_ = lambda: shown  # type: ignore[attr-defined]
        raise error.with_traceback(None)


def _run_cell(shell: Any, cell: str) -> _CellRun:
    """Run ``cell`` as a real cell, holding back its last value and its error display.

    The outer ``%%tape`` cell then shows both, so ``Out[n]``, ``_`` and the cell's error
    status are exactly those of the same cell without the magic.
    """
    run = _CellRun()
    outer_displayhook = sys.displayhook

    def keep_value(value: Any) -> None:
        if value is not None:
            run.value = value

    def keep_traceback(etype: type, evalue: BaseException, stb: list[str]) -> None:
        run.shown_traceback = stb

    def show_traceback(*args: Any, **kwargs: Any) -> None:
        _hide_own_frames(sys.exc_info()[1])
        outer_show_traceback(*args, **kwargs)

    outer_result = shell.displayhook.exec_result  # the inner run_cell resets it
    outer_show_traceback = shell.showtraceback
    count = shell.execution_count
    shell.showtraceback = show_traceback
    shell._showtraceback = keep_traceback
    sys.displayhook = keep_value
    # the inner cell is compiled under the outer cell's number, so that tracebacks, warnings
    # and functions it defines say "In[7]" as they would without %%tape
    shell.execution_count = _outer_count(shell)
    try:
        result = shell.run_cell(cell, store_history=False)
    finally:
        shell.execution_count = count
        sys.displayhook = outer_displayhook
        shell.displayhook.exec_result = outer_result
        del shell._showtraceback, shell.showtraceback  # back to the class's own methods
    run.error = result.error_before_exec or result.error_in_exec
    run.ran = result.error_before_exec is None and not isinstance(run.error, SyntaxError)
    if run.error is None and DisplayHook.semicolon_at_end_of_expression(cell):
        run.value = None
    return run


def _outer_count(shell: Any) -> int:
    """The number of the running (outer) cell: the one its code was compiled under.

    Not simply ``execution_count``: IPython 9 counts a stored cell before running it.
    """
    numbers = shell.compile._filename_map  # cell file name -> In[n], as tracebacks read it
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename not in numbers:
        frame = frame.f_back
    return numbers[frame.f_code.co_filename] if frame is not None else shell.execution_count


def _hide_own_frames(error: BaseException | None) -> None:
    """Take tapeviz's hook frames out of an error's traceback (and its causes'), in place.

    An error raised by TensorFlow through a wrapped method (``tape.gradient``, a Keras layer
    call) would otherwise show the wrapper between the user's code and TensorFlow's.
    """
    seen: set[int] = set()
    todo = [error]
    while todo:
        error = todo.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        todo += [error.__cause__, error.__context__]
        kept, tb = None, error.__traceback__
        while tb is not None:
            if tb.tb_frame.f_globals.get("__name__", "").startswith("tapeviz."):
                if kept is None:
                    error.__traceback__ = tb.tb_next
                else:
                    kept.tb_next = tb.tb_next
            else:
                kept = tb
            tb = tb.tb_next


def _check_output(path: str, fmt: str) -> None:
    """Refuse a bad --output before the cell runs, so nothing is lost."""
    try:
        output_format(path, _format_of(path, fmt))
    except RenderError as error:
        raise UsageError(f"%%tape --output {path}: {error}") from None
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        raise UsageError(f"%%tape --output {path}: the folder {folder!r} does not exist. "
                         "Create it first, or give a path in an existing folder.")


def _format_of(path: str, fmt: str) -> str | None:
    """--format names the file's format only when the file name has no extension."""
    return fmt if "." not in os.path.basename(path) else None


def _present(shell: Any, recording: Any, args: Any) -> None:
    """Show (and save) the picture and one note under it; a failure here is only a note."""
    before = len(recording.internal_errors)  # the recording's own come first
    notes = list(recording.notes)
    drawn = False
    with guarded(recording.internal_errors, "drawing"):
        options = view_options(args)
        showing = bool(recording.ops) and not args.quiet
        view = _interactive(shell, recording, options) if showing and args.format == "svg" \
            else None
        drawing = show(recording, options) if view is None else view.drawing  # drawn once
        # the recording's notes, and what the picture leaves out
        notes = [note.worded(as_flag) for note in drawing.notes]
        if args.output:
            notes += _save(drawing, args.output, args.format)
        if showing:
            notes += _show_graph(drawing if view is None else view, args.format)
        drawn = True
    if args.quiet:
        return
    if args.format != "text":  # the text summary already lists them
        notes += [f"\N{WARNING SIGN} {finding.kind}: {finding.message}"
                  for finding in recording.diagnostics]
        notes += [f"gradient check {name}: {check_text(result)}"
                  for name, result in recording.checks.items()]
    # errors while the cell ran only mean a partial picture: the recording's notes say so
    failed = [e for e in recording.internal_errors[:before] if e.stage != "recording"]
    failed += recording.internal_errors[before:]
    if failed:
        notes.append(f"tapeviz could not {'finish' if drawn else 'draw'} this cell "
                     f"({failed[0].kind} in {failed[0].stage}); your cell ran normally; "
                     "`_tape` holds what was recorded; please report this with "
                     "`%%tape --debug`.")
    if notes:
        display(Notes(notes, "\n".join(e.traceback for e in failed) if args.debug else ""))


def view_options(args: Any) -> ViewOptions:
    """The :class:`ViewOptions` that the parsed ``%%tape`` arguments ask for."""
    return ViewOptions(backward=not args.no_backward, values=not args.no_values,
                       all_ops=args.all_ops, depth=args.depth, expand=args.expand,
                       budget=args.budget, static=args.static, replay=args.replay)


def as_flag(option: str, value: Any) -> str:
    """A ViewOptions field as the %%tape flag that sets it: ``--budget 300``, ``--all-ops``.

    >>> as_flag("budget", 300), as_flag("all_ops", True), as_flag("backward", False)
    ('--budget 300', '--all-ops', '--no-backward')
    """
    flag = option.replace("_", "-")
    if isinstance(value, bool):
        return f"--{flag}" if value else f"--no-{flag}"
    return f"--{flag} {value}"


def _interactive(shell: Any, recording: Any, options: ViewOptions) -> Any:
    """The interactive view, where a front end can show widgets (a kernel: JupyterLab,
    Notebook 7, VS Code, Colab; not a terminal) and ``--static`` was not asked; else None.

    None too when the view cannot draw: with no Graphviz engine the static drawing shows what
    failed and how to fix it; any other failure is a note, and the static picture still shows."""
    if options.static or getattr(shell, "kernel", None) is None:
        return None
    with guarded(recording.internal_errors, "interactive view"):  # the picture still shows
        try:
            from tapeviz.widgets.view import GraphView

            return GraphView(recording, options)
        except RenderError:
            pass
    return None


def _show_graph(drawing: Any, fmt: str) -> list[str]:
    """Show the picture (a Drawing, or as svg the interactive view) in ``fmt``; returns notes
    on what could not be shown."""
    if fmt == "svg":
        display(drawing)
    elif fmt == "png":
        try:
            display(Image(drawing.png()))
        except RenderError as error:
            display(drawing)  # its text and DOT source say what failed, and how to fix it
            return [f"%%tape could not draw a PNG: {error}"]
    elif fmt == "dot":
        print(drawing.source)  # the user asked for text
    else:
        print(drawing.text)
    return []


def _save(drawing: Any, path: str, fmt: str) -> list[str]:
    try:
        drawing.save(path, _format_of(path, fmt))
    except (RenderError, OSError) as error:
        return [f"%%tape could not write {path}: {error}"]
    return []
