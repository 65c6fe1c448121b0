"""A small spiking program whose layer and weight names try to break out of generated code."""

import numpy as np

from nscc.ir.textio import parse_module

EVIL = 'x"; system("touch /tmp/pwned"); //\\n*/ $(shell rm -rf ~) [connectivity]'


def hostile_module(evil: str = EVIL):
    """encode -> synapse (named `evil`) -> output; a weight named with a quote and a comment end."""
    quoted = evil.replace("\\", "\\\\").replace('"', '\\"')
    text = f"""builtin.module {{
  func.func @main(%x: tensor<2x4xf32>) -> tensor<2x3xi32> {{
    %t = nn.weight "w\\"eight */ name" : tensor<f32>
    %c = snn.encode %x, %t : (tensor<2x4xf32>, tensor<f32>) -> !snn.counts<2x4, 3>
    %w = nn.weight "w" : tensor<4x3xi8>
    %0 = snn.synapse %c, %w {{acc_bits = 32 : i64, nscc.layer = "{quoted}"}} : (!snn.counts<2x4, 3>, tensor<4x3xi8>) -> tensor<2x3xi32>
    func.return %0 : tensor<2x3xi32>
  }}
}}"""
    ctx, module = parse_module(text)
    ctx.weights.add('w"eight */ name', np.array(0.5, np.float32))
    ctx.weights.add("w", np.arange(12, dtype=np.int8).reshape(4, 3))
    return ctx, module
