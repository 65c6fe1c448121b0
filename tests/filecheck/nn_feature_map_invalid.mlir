// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for nn.feature_map, one case per `// -----` section, each with the verifier's message.

// -----
// one map per head: the weight's heads must match the input's
builtin.module {
  func.func @main(%x: tensor<1x2x3x4xf32>, %w: tensor<3x4x4xf32>) -> tensor<1x2x3x8xf32> {
    %0 = nn.feature_map %x, %w : (tensor<1x2x3x4xf32>, tensor<3x4x4xf32>) -> tensor<1x2x3x8xf32>
    func.return %0 : tensor<1x2x3x8xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.feature_map: input (1, 2, 3, 4) and weight (3, 4, 4) do not fit ([..., H, S, d] and [H, d, f])

// -----
// the result holds softmax(z) and softmax(-z): twice the map's features
builtin.module {
  func.func @main(%x: tensor<1x2x3x4xf32>, %w: tensor<2x4x4xf32>) -> tensor<1x2x3x4xf32> {
    %0 = nn.feature_map %x, %w : (tensor<1x2x3x4xf32>, tensor<2x4x4xf32>) -> tensor<1x2x3x4xf32>
    func.return %0 : tensor<1x2x3x4xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.feature_map: result must be (1, 2, 3, 8), got (1, 2, 3, 4)
