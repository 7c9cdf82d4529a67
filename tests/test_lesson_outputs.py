"""Stored lesson outputs that every machine reproduces, and that a learner can read.

nbval runs each lesson again and compares what it prints with what is stored, so a stored
output must not depend on the CPU, the clock or the machine that made it (issue 10): no signed
zeros (``-0.0``, which another CPU may print as ``0.0``), no float32 noise digits
(``0.30000001192092896``; float32 holds about 7 significant digits and the last ones vary
with the order of a sum), no memory addresses, no timings, no TensorFlow log lines, no colour
codes and no file paths of the machine. Cells marked ``# NBVAL_IGNORE_OUTPUT`` are not compared
(a measured speed-up), so only the log, colour and path rules apply to them.
"""

import re

import pytest

from tests.lesson_notebooks import LESSONS, code_cells, load, output_texts, source

MAX_SIGNIFICANT_DIGITS = 6
SIGNED_ZERO = re.compile(r"(?<![\w.])-0\.?0*(?![\w.])")
# a written decimal number: 0.3, 12.50, .5, 1.5e-05 (integers and 1e-3 have no point: not floats
# that carry noise digits)
DECIMAL = re.compile(r"(?<![\w.])(\d+\.\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.])")
MACHINE_DEPENDENT = {
    "a memory address": re.compile(r"0x[0-9a-fA-F]{6,}"),
    "a timing": re.compile(r"\d(?:\.\d+)?\s?(?:ms|µs|us|ns)\b|\ds/step"),
}
NEVER = {
    "a TensorFlow log line": re.compile(
        r"^(?:[IWEF]\d{4} \d\d:\d\d:\d\d|WARNING:tensorflow|WARNING: All log messages)", re.M),
    "a terminal colour code": re.compile("\x1b\\["),
    "a file path of the machine": re.compile(r"(?:/home/|/work/|/tmp/|/usr/|site-packages"
                                             r"|[A-Za-z]:\\)"),
}


def significant_digits(number: str) -> int:
    mantissa = re.split("[eE]", number)[0]
    return len(mantissa.replace(".", "").lstrip("0"))


def problems(text: str, compared: bool = True) -> list[str]:
    """What is wrong with one stored output's text, one line per finding."""
    found = [f"{what}: {match.group(0)!r}" for what, pattern in NEVER.items()
             if (match := pattern.search(text))]
    if not compared:
        return found
    found += [f"a signed zero: {m.group(0)!r}" for m in SIGNED_ZERO.finditer(text)]
    found += [f"{significant_digits(m.group(0))} significant digits: {m.group(0)!r}"
              for m in DECIMAL.finditer(text)
              if significant_digits(m.group(0)) > MAX_SIGNIFICANT_DIGITS]
    found += [f"{what}: {m.group(0)!r}" for what, pattern in MACHINE_DEPENDENT.items()
              for m in pattern.finditer(text)]
    return list(dict.fromkeys(found))


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda path: path.stem)
def test_stored_outputs_do_not_depend_on_the_machine(lesson):
    findings = []
    for index, cell in code_cells(load(lesson)):
        compared = "NBVAL_IGNORE_OUTPUT" not in source(cell)
        for kind, text in output_texts(cell):
            findings += [f"cell [{index}] ({kind}): {p}" for p in problems(text, compared)]
    assert not findings, f"{lesson.name}:\n" + "\n".join(findings)


@pytest.mark.parametrize(("text", "expected"), [
    ("0.30000001192092896", ["17 significant digits: '0.30000001192092896'"]),
    ("[[ 1.5110626 ]\n [-0.41969493]]", ["8 significant digits: '1.5110626'",
                                         "8 significant digits: '0.41969493'"]),
    ("[-0.25  0.25 -0.    0.5 ]", ["a signed zero: '-0.'"]),
    ("grad -0.0, then 0.0", ["a signed zero: '-0.0'"]),
    ("0x7f3a2b1c4d5e", ["a memory address: '0x7f3a2b1c4d5e'"]),
    ("12/12 - 0s - 21ms/step", ["a timing: '1ms'"]),
    ("\x1b[31mTypeError\x1b[39m", ["a terminal colour code: '\\x1b['"]),
    ("File /home/me/venv/lib/x.py", ["a file path of the machine: '/home/'"]),
])
def test_problems_finds_machine_dependent_text(text, expected):
    assert problems(text) == expected


@pytest.mark.parametrize("text", [
    "loss 0.3953", "1e-3", "2.3e-05", "4810 parameters", "-0.05 and -0.5", "3.11.7",
    "0.123456", "1234.50", "accuracy: 0.960", "[ 3.6 -0.7]", "total 1500.0", "dense_2",
])
def test_problems_accepts_rounded_human_values(text):
    assert problems(text) == []
