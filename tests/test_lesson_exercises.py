"""The lessons' exercises: stored unanswered, and every solution passes its check.

An exercise is two code cells and a solution:

- the **answer cell**, tagged ``exercise``: what the learner fills in, stored unanswered
  (``my_answer = None``, a function whose body is still ``return None``, or code to fix);
- the **check cell**, tagged ``check``: it prints "... first, then run this cell again" while
  there is no answer, and otherwise asserts with a helpful message and prints "right! ...";
- the **solution**: the first ```python block inside a ``<details>`` block of the next markdown
  cell, drawn collapsed.

The static tests read the stored notebooks. ``test_solutions_pass_their_checks`` runs each
lesson and then, as a learner would, every exercise's solution followed by its check cell
again, and requires every such check to say right. That run is the lesson's JupyterLab run in
``tests/e2e/test_lab.py`` (one kernel per lesson for both tests; it stages the lesson with
:func:`solution_cells` appended and hands the checks' output over with :func:`record_solved`)
when the browser tests ran it; otherwise a kernel of this test's own runs the same cells.
"""

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.background import Job, started
from tests.lesson_notebooks import (
    LESSONS,
    LESSONS_DIR,
    code_cells,
    load,
    output_texts,
    source,
    stdout,
    tags,
)

UNANSWERED = "then run this cell again"
RIGHT = "right!"
SOLUTION = re.compile(r"<details>.*?```python\n(.*?)```.*?</details>", re.S)
ANSWER_NAME = re.compile(r"^(my_\w+)\s*=\s*(.+?)\s*(?:#.*)?$", re.M)
CELL_TIMEOUT_S = 120


@dataclass
class Exercise:
    answer: int  # index of the answer cell
    check: int  # index of the check cell
    solution: str

    def is_coding(self) -> bool:
        """True when the learner writes code, not only a value: a function, a fix, a model.

        A value exercise's solution only assigns numbers, strings, tuples or lists (arithmetic
        allowed) to names; anything else (a ``def``, a call, a loop) is code.
        """
        return not all(isinstance(statement, ast.Assign) and _is_plain_value(statement.value)
                       for statement in ast.parse(self.solution).body)


def _is_plain_value(node: ast.AST) -> bool:
    plain = (ast.Constant, ast.Tuple, ast.List, ast.BinOp, ast.UnaryOp, ast.operator,
             ast.unaryop, ast.Load)
    return all(isinstance(child, plain) for child in ast.walk(node))


def exercises(notebook: dict) -> list[Exercise]:
    """The lesson's exercises; raises AssertionError where one is incomplete."""
    cells = notebook["cells"]
    found = []
    for index, cell in code_cells(notebook):
        if "exercise" not in tags(cell):
            continue
        check = index + 1
        assert check < len(cells) and "check" in tags(cells[check]), \
            f"cell [{index}] is an exercise, but the next cell is not tagged 'check'"
        following = [i for i in range(check + 1, len(cells))
                     if cells[i]["cell_type"] == "markdown"]
        match = SOLUTION.search(source(cells[following[0]])) if following else None
        assert match, (f"exercise cell [{index}]: the markdown cell after its check needs the "
                       "solution as a ```python block inside <details>...</details>")
        found.append(Exercise(index, check, match.group(1)))
    return found


def lesson_number(path: Path) -> int:
    return int(path.name.split("_", 1)[0])


EXERCISED = [path for path in LESSONS if lesson_number(path) >= 1]


@pytest.mark.parametrize("lesson", EXERCISED, ids=lambda path: path.stem)
def test_every_lesson_has_exercises_with_checks_and_solutions(lesson):
    notebook = load(lesson)
    found = exercises(notebook)
    assert found, f"{lesson.name} has no cell tagged 'exercise'"
    if lesson_number(lesson) >= 2:
        assert any(exercise.is_coding() for exercise in found), \
            f"{lesson.name} has no coding exercise (one where the learner writes code)"


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda path: path.stem)
def test_no_stored_exercise_is_pre_answered(lesson):
    notebook = load(lesson)
    cells = notebook["cells"]
    problems = []
    for exercise in exercises(notebook):
        answers = ANSWER_NAME.findall(source(cells[exercise.answer]))
        problems += [f"cell [{exercise.answer}] stores an answer: {name} = {value}"
                     for name, value in answers if value != "None"]
        if UNANSWERED not in stdout(cells[exercise.check]):
            problems.append(f"check cell [{exercise.check}] does not print '... {UNANSWERED}'"
                            " in its stored output: it must be stored unanswered")
    for index, cell in code_cells(notebook):
        if "exercise" not in tags(cell) and "# your answer" in source(cell):
            problems.append(f"cell [{index}] has '# your answer' but is not tagged 'exercise'")
        problems += [f"cell [{index}] stores a right answer: {text.strip()[:80]!r}"
                     for _, text in output_texts(cell) if RIGHT in text]
    assert not problems, f"{lesson.name}:\n" + "\n".join(problems)


def solution_cells(lesson: Path) -> list[nbformat.NotebookNode]:
    """Cells to run after the stored lesson: each exercise's solution, then its check again.

    Exercises come last in a lesson, so the lesson itself runs exactly as stored before them.
    """
    notebook = load(lesson)
    cells = []
    for exercise in exercises(notebook):
        stored = notebook["cells"][exercise.check]
        check = nbformat.v4.new_code_cell(source(stored), metadata={"tags": tags(stored)})
        cells += [nbformat.v4.new_code_cell(exercise.solution), check]
    return cells


def failed_solution_checks(lesson: Path, printed: list[str]) -> list[str]:
    """The checks that did not say right, given what each solution's check printed, in order."""
    found = exercises(load(lesson))
    assert len(printed) == len(found), f"{len(found)} exercises, {len(printed)} checks ran"
    return [f"check cell [{exercise.check}] with the solution printed {text.strip()!r}"
            for exercise, text in zip(found, printed, strict=True)
            if RIGHT not in text or UNANSWERED in text]


def record_solved(config: pytest.Config, lesson: Path, printed: list[str]) -> None:
    """Keep what the solutions' checks of ``lesson`` printed in a run made elsewhere."""
    if not hasattr(config, "tapeviz_solved"):
        config.tapeviz_solved = {}
    config.tapeviz_solved[lesson.name] = failed_solution_checks(lesson, printed)


def solution_runs(lessons: list[Path]) -> dict[str, list[str] | Exception]:
    """Lesson name -> its failed checks (or the error that stopped it), one lesson at a time.

    tests/conftest.py starts this at collection, in a thread, for the lessons whose JupyterLab
    run was not collected: the kernels run beside the rest.
    """
    outcomes: dict[str, list[str] | Exception] = {}
    for lesson in lessons:
        try:
            outcomes[lesson.name] = failed_checks(lesson)
        except Exception as error:  # reported by this lesson's own test
            outcomes[lesson.name] = error
    return outcomes


@pytest.mark.parametrize("lesson", EXERCISED, ids=lambda path: path.stem)
def test_solutions_pass_their_checks(request, lesson):
    """After the lesson, each solution then its check: every check says right (see the top)."""
    outcome = getattr(request.config, "tapeviz_solved", {}).get(lesson.name)
    if outcome is None:  # the browser run did not happen (or did not finish): run it here
        job = started(request.config, "solutions") or Job.start(solution_runs, [lesson])
        outcome = job.result(timeout=3000)[lesson.name]
    if isinstance(outcome, Exception):
        raise outcome
    assert not outcome, f"{lesson.name}:\n" + "\n".join(outcome)


def failed_checks(lesson: Path) -> list[str]:
    """Run ``lesson``, then its solutions and their checks, in a kernel; the checks that failed."""
    notebook = nbformat.read(lesson, as_version=4)
    solved = solution_cells(lesson)
    notebook.cells += solved
    NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                   resources={"metadata": {"path": str(LESSONS_DIR)}}).execute()
    checks = notebook.cells[len(notebook.cells) - len(solved) + 1::2]
    return failed_solution_checks(lesson, [stdout(cell) for cell in checks])
