"""nscc: a compiler from ONNX networks and LLMs to spiking, MatMul-free programs."""

__version__ = "0.1.0"

from nscc.registry import register_pass  # noqa: E402

__all__ = ["register_pass", "__version__"]
