"""Rendering works with pip alone, and never raises in a notebook."""

import shutil

import pytest

from tapeviz import render
from tapeviz.render import Drawing, RenderError

DOT = "digraph { a -> b }"


def test_pip_installed_engine_renders_without_dot_on_path(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert shutil.which("dot") is None
    bundle = Drawing(DOT, "two nodes")._repr_mimebundle_()
    assert bundle["image/svg+xml"].lstrip().startswith("<?xml")
    assert "<svg" in bundle["image/svg+xml"] and bundle["text/plain"] == "two nodes"


def test_no_engine_at_all_gives_advice_and_the_dot_source(monkeypatch):
    monkeypatch.setattr(render, "_which", lambda program: None)
    bundle = Drawing(DOT, "two nodes")._repr_mimebundle_()
    assert set(bundle) == {"text/plain"}
    text = bundle["text/plain"]
    assert "pip install graphviz-pure" in text and "apt install graphviz" in text
    assert "digraph { a -> b }" in text and text.startswith("two nodes")


def test_engine_failure_is_explained():
    with pytest.raises(RenderError, match="failed with exit code"):
        render.render("digraph { a -> ", "svg")


@pytest.mark.skipif(shutil.which("dot") is None, reason="system Graphviz is not installed")
def test_system_dot_is_used_when_asked_for(monkeypatch):
    monkeypatch.setenv("TAPEVIZ_ENGINE", "system")
    assert render.find_engine() == [shutil.which("dot")]
    assert b"<svg" in render.render(DOT, "svg")


def test_unknown_engine_is_a_clear_error():
    with pytest.raises(RenderError, match="use 'auto', 'pure' or 'system'"):
        render.find_engine("fast")  # type: ignore[arg-type]


def test_save_by_extension(tmp_path):
    drawing = Drawing(DOT, "two nodes")
    assert drawing.save(tmp_path / "g.svg").read_text().count("<svg") == 1
    assert drawing.save(tmp_path / "g.png").read_bytes().startswith(b"\x89PNG")
    assert drawing.save(tmp_path / "g.gv").read_text() == DOT
    assert drawing.save(tmp_path / "g.txt").read_text() == "two nodes"
    with pytest.raises(RenderError, match="unknown format 'pdf'"):
        drawing.save(tmp_path / "g.pdf")
