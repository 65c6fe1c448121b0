"""ONNX node conformance: every case of every op nscc lowers, through frontend and interpreter."""

import collections

import onnx_node_cases as oc
import pytest

# The ops the foundation issue names; each must pass at least one case.
REQUIRED = """MatMul Gemm Add Sub Mul Div Pow Sqrt Reciprocal Neg Exp Erf Tanh Sigmoid Relu Gelu Softmax
LayerNormalization ReduceMean ReduceSum ReduceMax Gather Reshape Transpose Concat Slice Split Squeeze
Unsqueeze Expand Where Equal Cast Shape ConstantOfShape Range Trilu Constant Identity Conv MaxPool
AveragePool GlobalAveragePool BatchNormalization Flatten Clip Min Max""".split()


@pytest.fixture(scope="module")
def results():
    by_op = collections.defaultdict(list)
    for case in oc.our_cases():
        status, detail = oc.run_case(case)
        by_op[oc.target_op(case)].append((case.name, status, detail))
    return by_op


def test_no_case_crashes_or_mismatches(results):
    bad = [(name, status, detail) for cases in results.values() for name, status, detail in cases if status in ("crash", "mismatch")]
    assert not bad, "\n".join(f"{n}: {s}: {d[:200]}" for n, s, d in bad)


@pytest.mark.parametrize("op", REQUIRED)
def test_required_op_passes_its_cases(results, op):
    cases = results.get(op, []) + results.get(f"{op} (expanded)", [])
    passed = [c for c in cases if c[1] == "pass"]
    assert passed, f"no conformance case of {op} passes: {cases[:3]}"
    # Unsupported cases of a required op must be for a reason we accept: an
    # exotic dtype, training mode, or an output nscc does not lower.
    for name, status, detail in cases:
        if status == "unsupported":
            assert any(k in detail for k in ("element type", "type", "training", "output", "storage_order", "must be a constant")), (
                name,
                detail,
            )
