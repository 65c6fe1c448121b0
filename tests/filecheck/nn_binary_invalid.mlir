// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for nn.binary, one case per `// -----` section, each with the verifier's message.

// -----
// operands that do not broadcast
builtin.module {
  func.func @main(%x: tensor<2x3xf32>, %y: tensor<4xf32>) -> tensor<2x3xf32> {
    %0 = nn.add %x, %y : (tensor<2x3xf32>, tensor<4xf32>) -> tensor<2x3xf32>
    func.return %0 : tensor<2x3xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.add: operand shapes (2, 3) and (4,) do not broadcast

// -----
// result shape
builtin.module {
  func.func @main(%x: tensor<2x3xf32>, %y: tensor<3xf32>) -> tensor<3x3xf32> {
    %0 = nn.add %x, %y : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<3x3xf32>
    func.return %0 : tensor<3x3xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.add: result shape must be (2, 3)
