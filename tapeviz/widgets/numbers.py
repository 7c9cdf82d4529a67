"""The stepper's numbers view: the last step's rule, its formula and each variable's numbers.

Everything shown comes from the ``StepRecord``: the values before and after the update as the
optimizer applied it, the gradient, the optimizer's own state (velocity, Adam's m and v) and
``Δw = w after − w before``. Small variables are printed in full, big ones summarised.

>>> from tapeviz.sgd import StepRecord
>>> from tapeviz.updates import VariableUpdate, sgd_rule
>>> update = VariableUpdate.of(np.array([1.0]), np.array([0.5]), np.array([5.0]))
>>> text = numbers_html(StepRecord(1, 0, 0, 1, 0.0, 0.1, updates={"w": update},
...                                rule=sgd_rule(0.1)))
>>> "w ← w − lr·g" in text and "lr = 0.1" in text and "[-0.5]" in text
True
"""

from __future__ import annotations

import html

import numpy as np

from tapeviz.sgd import StepRecord
from tapeviz.updates import Numbers, UpdateRule


def numbers_html(record: StepRecord | None) -> str:
    """An HTML table of the step's update, with the rule's formula and its numbers above."""
    if record is None or not record.updates:
        return "<i>Take a step to see its update: w before, g, Δw and w after.</i>"
    updates = record.updates
    slots = list(dict.fromkeys(slot for update in updates.values() for slot in update.state))
    with_gradient = all(update.gradient is not None for update in updates.values())
    head = ["w before", *(["g"] if with_gradient else []), *slots, "Δw (as applied)", "w after"]
    rows = []
    for name, update in updates.items():
        cells = [update.before, *([update.gradient] if with_gradient else []),
                 *(update.state.get(slot) for slot in slots), update.change, update.after]
        rows.append(f"<tr><td>{html.escape(name)} {update.before.shape}</td>"
                    + "".join(f"<td>{_cell(cell)}</td>" for cell in cells) + "</tr>")
    header = "".join(f"<th>{html.escape(title)}</th>" for title in ("", *head))
    return (f"<div>{_rule_html(record.rule)}</div>"
            f"<table><tr>{header}</tr>{''.join(rows)}</table>")


def numbers_text(value: np.ndarray) -> str:
    """How one array is printed in the view (tests look for exactly this)."""
    return np.array2string(np.ravel(value), precision=4, suppress_small=True)


def _rule_html(rule: UpdateRule | None) -> str:
    if rule is None:
        return ""
    text = f"<b>{html.escape(rule.name)}</b>"
    if rule.formula:
        text += f": <code>{html.escape(rule.formula)}</code>"
    if rule.values:
        text += " with " + ", ".join(f"{html.escape(key)} = {value:.4g}"
                                     for key, value in rule.values.items())
    return text


def _cell(numbers: Numbers | None) -> str:
    if numbers is None:
        return ""
    if numbers.full is not None:
        return f"<code>{html.escape(numbers_text(numbers.full))}</code>"
    return (f"<small>|·| {numbers.norm:.4g}, mean {numbers.mean:.3g}, "
            f"[{numbers.min:.3g}, {numbers.max:.3g}]</small>")
