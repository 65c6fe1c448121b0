// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for nn.matmul, one case per `// -----` section, each with the verifier's message.

// -----
// contraction
builtin.module {
  func.func @main(%a: tensor<2x3xf32>, %b: tensor<4x5xf32>) -> tensor<2x5xf32> {
    %0 = nn.matmul %a, %b : (tensor<2x3xf32>, tensor<4x5xf32>) -> tensor<2x5xf32>
    func.return %0 : tensor<2x5xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.matmul: contraction sizes differ ((2, 3) @ (4, 5))
