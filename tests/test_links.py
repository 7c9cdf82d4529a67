"""The Binder badge and the class links come from one setting: pyproject.toml's Repository."""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "binder" / "hub" / "lesson_link.py"


def load_links():
    spec = importlib.util.spec_from_file_location("lesson_link", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


links = load_links()


def test_the_readme_badge_is_made_from_pyprojects_repository():
    badges = re.findall(r"\[!\[Binder\]\(https://mybinder\.org/badge_logo\.svg\)\]\((\S+?)\)",
                        (ROOT / "README.md").read_text())
    assert badges, "the README has no Binder badge"
    repository = links.repository_url()
    assert repository.startswith("https://github.com/")
    lesson = links.lesson_path("00")
    assert badges == [links.binder_link(lesson, repository)]
    assert (ROOT / lesson).is_file()


def test_the_hub_link_pulls_the_repository_and_opens_the_lesson():
    done = subprocess.run([sys.executable, str(SCRIPT), "--hub", "https://hub.example.edu/",
                           "00"], capture_output=True, text=True, check=True)
    link = urlparse(done.stdout.strip())
    assert (link.scheme, link.netloc, link.path) == (
        "https", "hub.example.edu", "/hub/user-redirect/git-pull")
    query = {key: values[0] for key, values in parse_qs(link.query).items()}
    lesson = links.lesson_path("00")
    name = links.repository_url().split("/")[-1]
    assert query == {"repo": links.repository_url(), "targetpath": name,
                     "urlpath": f"lab/tree/{name}/{lesson}"}


def test_an_unknown_lesson_lists_the_lessons():
    done = subprocess.run([sys.executable, str(SCRIPT), "--binder", "99"],
                          capture_output=True, text=True)
    assert done.returncode != 0 and "00_first_look.ipynb" in done.stderr
