import os
import sys

# tests import their helpers (onnx_node_cases, models) as top-level modules
sys.path.insert(0, os.path.dirname(__file__))
