#!/usr/bin/env python3
"""Print the links that open a lesson: for a class on JupyterHub (nbgitpuller), or on Binder.

    python binder/hub/lesson_link.py --hub https://hub.example.edu 03
    python binder/hub/lesson_link.py --binder 00

A student who clicks the hub link logs in, gets this repository's lessons cloned (the first
time) or merged (later: nbgitpuller never overwrites their edits) into their own home, and
JupyterLab opens on the lesson. The repository is the one setting ``[project.urls]
Repository`` in pyproject.toml, which the README's Binder badge uses too
(``tests/test_links.py`` checks it). Needs Python >= 3.11 and nothing else.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from urllib.parse import quote, urlencode, urlparse

import tomllib

ROOT = Path(__file__).resolve().parents[2]


def repository_url(root: Path = ROOT) -> str:
    """``[project.urls] Repository`` from pyproject.toml, e.g. https://github.com/o/name."""
    with open(root / "pyproject.toml", "rb") as file:
        return tomllib.load(file)["project"]["urls"]["Repository"].rstrip("/")


def lesson_path(lesson: str, root: Path = ROOT) -> str:
    """``lessons/NN_name.ipynb`` for a lesson given as ``NN``, its file name or its path."""
    name = Path(lesson).name
    matches = sorted((root / "lessons").glob(name if name.endswith(".ipynb") else f"{name}_*"))
    if len(matches) != 1:
        found = ", ".join(p.name for p in sorted((root / "lessons").glob("[0-9]*.ipynb")))
        raise SystemExit(f"no single lesson matches {lesson!r}; the lessons are: {found}")
    return f"lessons/{matches[0].name}"


def binder_link(lesson: str, repository: str) -> str:
    """mybinder.org opening JupyterLab on the lesson, from a GitHub repository URL."""
    owner_and_name = urlparse(repository).path.strip("/")
    return f"https://mybinder.org/v2/gh/{owner_and_name}/HEAD?urlpath=lab/tree/{lesson}"


def nbgitpuller_link(hub: str, lesson: str, repository: str, branch: str | None = None) -> str:
    """The hub link that pulls ``repository`` into the student's home and opens ``lesson``.

    The clone goes to ``~/<repository name>``; without ``branch`` nbgitpuller takes the
    repository's default branch.
    """
    target = repository.rstrip("/").split("/")[-1].removesuffix(".git")
    query = {"repo": repository, **({"branch": branch} if branch else {}),
             "targetpath": target, "urlpath": f"lab/tree/{target}/{lesson}"}
    return (f"{hub.rstrip('/')}/hub/user-redirect/git-pull?"
            + urlencode(query, quote_via=quote, safe="/:"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lesson", help="lesson number (00), file name or path")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--hub", help="your JupyterHub's address, e.g. https://hub.example.edu")
    where.add_argument("--binder", action="store_true", help="the mybinder.org link instead")
    parser.add_argument("--repo", help="the lessons' git repository (default: pyproject.toml's)")
    parser.add_argument("--branch", help="branch to pull (default: the repository's default)")
    args = parser.parse_args(argv)
    repository = args.repo or repository_url()
    lesson = lesson_path(args.lesson)
    if args.binder:
        print(binder_link(lesson, repository))
    else:
        print(nbgitpuller_link(args.hub, lesson, repository, args.branch))


if __name__ == "__main__":
    sys.exit(main())
