import os
import sys

# tests import their helpers (onnx_node_cases, digits) and the example model zoo as top-level modules
HERE = os.path.dirname(__file__)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "examples"))
