"""How the passes are put together: each its own module, decisions in the library
(nscc.quant), and no pass running another behind the pipeline's back."""

import ast
import os

import pytest

from nscc.driver import apply_pipeline
from nscc.errors import NsccError
from nscc.frontend.importer import import_onnx
from nscc.ir import nn

ROOT = os.path.join(os.path.dirname(__file__), "..")
PASSES = os.path.join(ROOT, "passes")
LM = os.path.join(ROOT, "examples", "char_lm", "model.onnx")


def imported_modules(path: str) -> set[str]:
    """Every module a file imports, at any depth (function-local imports included)."""
    out = set()
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ("." * node.level) + (node.module or "")
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names)
    return out


PASS_FILES = sorted(f for f in os.listdir(PASSES) if f.endswith(".py") and f != "__init__.py")


@pytest.mark.parametrize("name", PASS_FILES)
def test_no_pass_imports_another_pass(name):
    """Shared code lives in the library (nscc.quant, nscc.ir, ...); a pass module
    imports no other pass module, neither as nscc.passes.x nor relatively."""
    others = {f[:-3] for f in PASS_FILES} - {name[:-3]}
    bad = sorted(
        m for m in imported_modules(os.path.join(PASSES, name)) if m.startswith(("nscc.passes", "passes", ".")) or m.split(".")[0] in others
    )
    assert not bad, f"passes/{name} imports {bad}"


def test_linear_attention_without_raise_attention_is_a_clear_error():
    ctx, module = import_onnx(LM)
    with pytest.raises(NsccError, match="raise-attention") as err:
        apply_pipeline(ctx, module, "linear-attention{measure=false}")
    assert "not raised" in str(err.value)
    assert not any(isinstance(op, nn.AttentionOp | nn.LinearAttentionOp) for op in module.walk())  # nothing ran silently


def test_linear_attention_after_raise_attention():
    ctx, module = import_onnx(LM)
    apply_pipeline(ctx, module, "raise-attention,linear-attention{measure=false}")
    assert any(isinstance(op, nn.LinearAttentionOp) for op in module.walk())
    assert not any(isinstance(op, nn.AttentionOp) for op in module.walk())


@pytest.mark.parametrize("name", PASS_FILES)
def test_a_pass_file_holds_the_pass_named_after_it(name):
    """`-p` finds a pass by its file's name, importing that file alone."""
    from nscc.passes import PASS_NAMES, load

    pass_name = name[:-3].replace("_", "-")
    assert pass_name in PASS_NAMES
    assert load(pass_name).__module__ == f"nscc.passes.{name[:-3]}"
