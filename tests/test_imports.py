"""The pipeline runs one way: every tapeviz module's imports, read with ``ast`` (top level and
inside functions), never go from a stage to a later one, never loop, and TensorFlow's private
API is imported in ``_tfhooks.py`` alone."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tapeviz"

# The order of the data flow, written once: a module may import from its own stage or an
# earlier one. A stage is a module of tapeviz or a subpackage (tapeviz.recorder.*); "tapeviz"
# is the package's own __init__, the public facade over everything.
STAGES = (
    ("summaries", "options", "_tfhooks"),
    ("recording",),
    ("recorder", "gradients", "diagnostics", "firewall", "serialize", "updates", "sgd", "replay"),
    ("collapse",),
    ("graph",),
    ("render",),
    ("pipeline",),
    ("magics", "widgets", "tapeviz"),
)
LEVEL = {stage: level for level, stages in enumerate(STAGES) for stage in stages}
PRIVATE_TF = ("tensorflow.python", "tensorflow.core", "tensorflow.tsl", "keras.src", "tf_keras")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def stage(module: str) -> str:
    """``tapeviz.recorder.naming`` -> ``recorder``; ``tapeviz`` -> ``tapeviz``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def imported(module: str, tree: ast.AST) -> list[tuple[str, int]]:
    """Every module ``tree`` imports, anywhere in it, with its line: ``(name, lineno)``."""
    package = module if MODULES[module].name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x, from ..recording import Op
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:  # `from tapeviz import graph` imports tapeviz.graph
                name = f"{base}.{alias.name}"
                found.append((name if name in MODULES else base, node.lineno))
    return found


def tapeviz_imports(module: str, tree: ast.AST) -> list[tuple[str, int]]:
    return [(name, line) for name, line in imported(module, tree)
            if name.split(".")[0] == "tapeviz" and name != module]


TREES = {module: ast.parse(path.read_text(), str(path)) for module, path in MODULES.items()}


def test_every_module_has_a_stage():
    missing = sorted({stage(m) for m in MODULES} - set(LEVEL))
    assert not missing, f"add {missing} to STAGES in {Path(__file__).name}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_goes_to_a_later_stage(module):
    upward = [f"line {line}: {name} ({stage(name)} comes after {stage(module)})"
              for name, line in tapeviz_imports(module, TREES[module])
              if LEVEL[stage(name)] > LEVEL[stage(module)]]
    assert not upward, f"{module} imports a later stage:\n" + "\n".join(upward)


def test_there_is_no_import_cycle():
    graph = {m: {name for name, _ in tapeviz_imports(m, tree)} for m, tree in TREES.items()}
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        if module in path:
            cycle = path[path.index(module):] + (module,)
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if module in done:
            return
        for name in sorted(graph.get(module, ())):
            visit(name, (*path, module))
        done.add(module)

    for module in sorted(graph):
        visit(module, ())


def test_the_checks_see_imports_inside_functions_and_cycles():
    tree = ast.parse("def draw():\n    from tapeviz.graph import build\n"
                     "def more():\n    from tapeviz import render\n")
    assert tapeviz_imports("tapeviz.recording", tree) == [("tapeviz.graph", 2),
                                                         ("tapeviz.render", 4)]


def test_the_recording_has_no_method_that_imports_a_later_stage():
    from tapeviz.recording import Recording

    (cls,) = [node for node in TREES["tapeviz.recording"].body
              if isinstance(node, ast.ClassDef) and node.name == "Recording"]
    methods = [node for node in cls.body if isinstance(node, ast.FunctionDef)]
    assert methods and all(not tapeviz_imports("tapeviz.recording", m) for m in methods)
    for drawing in ("draw", "to_dot", "to_digraph", "_repr_mimebundle_"):
        assert not hasattr(Recording, drawing), drawing


def private_tf(tree: ast.AST) -> list[str]:
    names = [name for name, _ in imported("tapeviz", tree)]
    found = [name for name in names if name.startswith(PRIVATE_TF)]
    found += [f"{node.value.id}.{node.attr}" for node in ast.walk(tree)
              if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
              and node.value.id in ("tf", "tensorflow") and
              (node.attr.startswith("_") or node.attr in ("python", "core"))]
    found += [f".{node.attr}" for node in ast.walk(tree)
              if isinstance(node, ast.Attribute) and node.attr in TENSOR_PRIVATE]
    return found


# private methods and attributes of TensorFlow's eager tensors, read only in _tfhooks
TENSOR_PRIVATE = {"_id", "_shape_tuple", "_datatype_enum", "_numpy", "_numpy_internal",
                  "_num_elements", "_handle_data", "_persistent"}


@pytest.mark.parametrize("module", sorted(set(MODULES) - {"tapeviz._tfhooks"}))
def test_tensorflow_private_api_only_in_tfhooks(module):
    assert private_tf(TREES[module]) == []


def test_the_private_api_check_sees_what_tfhooks_uses():
    assert private_tf(ast.parse("from tensorflow.python.eager import backprop")) == [
        "tensorflow.python.eager"]
    assert private_tf(ast.parse("tf.__internal__.x\nimport keras.src.ops")) == [
        "keras.src.ops", "tf.__internal__"]
    assert sorted(private_tf(ast.parse("n = math.prod(t._shape_tuple())\nv.handle._id"))) == [
        "._id", "._shape_tuple"]
    assert private_tf(TREES["tapeviz._tfhooks"])
