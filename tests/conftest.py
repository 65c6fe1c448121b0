import os
import sys

# The xdist workers share the cores: an OpenBLAS pool of its own in each worker, its threads
# spinning while they wait, made three of the longest files 22 % slower (221 s against 176 s
# for test_sparsity_pruning, test_bit_allocation and test_filecheck on 2 cores). Set before
# numpy is first imported (no plugin imports it earlier), which is when OpenBLAS reads it.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# tests import their helpers (onnx_node_cases, digits) and the example model zoo as top-level modules
HERE = os.path.dirname(__file__)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "examples"))


import pytest  # noqa: E402


@pytest.fixture(scope="module")
def private_build_cache(tmp_path_factory):
    """A build cache of the module's own (NSCC_CACHE), so that C++ builds are measured, not reused."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NSCC_CACHE", str(tmp_path_factory.mktemp("nscc-cache")))
        yield

