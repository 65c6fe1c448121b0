"""The layers of docs/architecture.md hold: who may import whom, one home for each
fixed-point constant, one interface for every target."""

import ast
import os
import re

import numpy as np
import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..")

# Package directories of the source tree and the module prefix each installs as.
SOURCES = {"nscc": "nscc", "passes": "nscc.passes", "targets": "nscc.targets"}

# A module's layer is given by its longest matching prefix; it may import only
# from layers at or below its own (and never from a higher one).
LAYERS = [
    ("nscc.errors", 0),
    ("nscc.progress", 0),
    ("nscc.arrays", 0),
    ("nscc.optable", 0),
    ("nscc.ir", 1),
    ("nscc.semantics", 2),
    ("nscc.frontend", 3),
    ("nscc.calibration", 4),
    ("nscc.quant", 4),
    ("nscc.quantize", 4),
    ("nscc.knapsack", 4),
    ("nscc.sensitivity", 4),
    ("nscc.report", 4),
    ("nscc.decoding", 4),
    ("nscc.fidelity", 4),
    ("nscc.analysis", 4),
    ("nscc.passes", 5),
    ("nscc.targets", 5),
    ("nscc.registry", 6),
    ("nscc.driver", 6),
    ("nscc.cli", 6),
    ("nscc.__main__", 6),
]


def layer(module: str) -> int | None:
    best = None
    for prefix, n in LAYERS:
        if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, n)
    return None if best is None else best[1]


def modules():
    for src, pkg in SOURCES.items():
        base = os.path.join(ROOT, src)
        for dirpath, _, files in os.walk(base):
            for f in files:
                if f.endswith(".py"):
                    rel = os.path.relpath(os.path.join(dirpath, f), base)[:-3].replace(os.sep, ".")
                    name = pkg if rel == "__init__" else f"{pkg}.{rel.removesuffix('.__init__')}"
                    yield name, os.path.join(dirpath, f)


def imports(path: str):
    """(module imported, names imported) for every import, at any depth of the file."""
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, []
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, [a.name for a in node.names]


MODULES = dict(modules())


def test_no_module_imports_a_higher_layer():
    bad = []
    for name, path in MODULES.items():
        own = layer(name)
        if own is None or name == "nscc":
            continue
        for mod, _ in imports(path):
            other = layer(mod) if mod.startswith("nscc") else None
            if other is not None and other > own:
                bad.append(f"{name} (layer {own}) imports {mod} (layer {other})")
    assert not bad, "\n".join(bad)


def test_passes_import_no_other_pass_and_targets_no_other_target():
    bad = []
    for name, path in MODULES.items():
        for group in ("nscc.passes.", "nscc.targets."):
            if not name.startswith(group):
                continue
            own = name[len(group) :].split(".")[0]
            for mod, _ in imports(path):
                if mod.startswith(group) and mod[len(group) :].split(".")[0] not in (own, "layout"):
                    bad.append(f"{name} imports {mod}")
    assert not bad, "\n".join(bad)


def test_nothing_outside_a_package_imports_its_private_names():
    bad = []
    for name, path in MODULES.items():
        for mod, names in imports(path):
            if not mod.startswith("nscc"):
                continue
            home = ".".join(mod.split(".")[:2])
            if name.startswith(home):
                continue
            bad += [f"{name} imports {n} from {mod}" for n in names if n.startswith("_")]
    assert not bad, "\n".join(bad)


def test_each_fixed_point_constant_is_written_once():
    from nscc.semantics import fixed

    literals = [repr(v) for k, v in vars(fixed).items() if k.isupper() and isinstance(v, float)]
    assert len(literals) >= 4
    found = {lit: [] for lit in literals}
    for top in ("nscc", "passes", "targets", "tests"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, top)):
            for f in files:
                if f.endswith((".py", ".h", ".hpp", ".cpp")):
                    text = open(os.path.join(dirpath, f)).read()
                    for lit in literals:
                        found[lit] += [f] * len(re.findall(r"(?<![\d.])" + re.escape(lit.lstrip("-")) + r"(?!\d)", text))
    assert all(v == ["fixed.py"] for v in found.values()), found


def test_the_generated_header_carries_the_table():
    from nscc.semantics import fixed

    text = fixed.header()
    for name, value in fixed.WIDTHS.items():
        assert f"constexpr int {name} = {value};" in text


@pytest.mark.parametrize("name", ["interpreter", "cpp", "vck190"])
def test_every_target_has_the_same_interface(name):
    from nscc.targets import get_target

    tgt = get_target(name)
    for attr in ("DESCRIPTION", "emit", "summary", "recognizes", "input_names", "run_built", "generate_built"):
        assert hasattr(tgt, attr), f"{name} lacks {attr}"


def test_built_by_finds_nothing_in_a_plain_directory(tmp_path):
    from nscc.targets import built_by

    assert built_by(str(tmp_path)) is None
    assert built_by(str(tmp_path / "missing")) is None


def test_a_pass_applies_to_a_clone_and_leaves_the_original():
    from nscc.driver import prepare
    from nscc.registry import available_passes

    model = os.path.join(ROOT, "examples", "digits_mlp", "model.onnx")
    ctx, module = prepare(model, {"batch": 2}, None, None)
    before, names = str(module), set(ctx.weights)
    spike = available_passes()["spike-conversion"]()()
    ctx2, module2 = spike.apply_to_clone(ctx, module)
    assert str(module) == before and set(ctx.weights) == names
    # the clone gains the integer weights and lets go of the float ones it replaced; the
    # arrays both still hold are one array, not copies
    assert "snn.synapse" in str(module2) and set(ctx2.weights) - names
    assert all(np.shares_memory(ctx.weights[n], ctx2.weights[n]) for n in names & set(ctx2.weights))
