// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for nn.linear_attention, one case per `// -----` section, each with the verifier's message.

// -----
// decay
builtin.module {
  func.func @main(%q: tensor<2x3x4xf32>) -> tensor<2x3x4xf32> {
    %0 = nn.linear_attention %q, %q, %q {feature = "relu", decay = 1.500000e+00 : f64, causal} : (tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
    func.return %0 : tensor<2x3x4xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.linear_attention: decay must be in (0, 1]

// -----
// feature
builtin.module {
  func.func @main(%q: tensor<2x3x4xf32>) -> tensor<2x3x4xf32> {
    %0 = nn.linear_attention %q, %q, %q {feature = "tanh", decay = 1.000000e+00 : f64, causal} : (tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
    func.return %0 : tensor<2x3x4xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.linear_attention: feature must be one of relu, elu1
