// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for nn.attention, one case per `// -----` section, each with the verifier's message.

// -----
// q, k, v shapes
builtin.module {
  func.func @main(%q: tensor<2x3x4xf32>, %k: tensor<2x3x5xf32>) -> tensor<2x3x4xf32> {
    %0 = nn.attention %q, %k, %q {scale = 5.000000e-01 : f64} : (tensor<2x3x4xf32>, tensor<2x3x5xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
    func.return %0 : tensor<2x3x4xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.attention: q (2, 3, 4), k (2, 3, 5), v (2, 3, 4) do not fit

// -----
// result shape
builtin.module {
  func.func @main(%q: tensor<2x3x4xf32>) -> tensor<2x3x5xf32> {
    %0 = nn.attention %q, %q, %q {scale = 5.000000e-01 : f64, causal} : (tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x5xf32>
    func.return %0 : tensor<2x3x5xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.attention: result must be [..., S_q, Dv]
