// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for nn.where, one case per `// -----` section, each with the verifier's message.

// -----
// operands that do not broadcast
builtin.module {
  func.func @main(%c: tensor<2x3xi1>, %x: tensor<4xf32>, %y: tensor<2x3xf32>) -> tensor<2x3xf32> {
    %0 = nn.where %c, %x, %y : (tensor<2x3xi1>, tensor<4xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
    func.return %0 : tensor<2x3xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.where: operand shapes (2, 3) and (4,) and (2, 3) do not broadcast

// -----
// result shape
builtin.module {
  func.func @main(%c: tensor<2x3xi1>, %x: tensor<2x3xf32>) -> tensor<3x3xf32> {
    %0 = nn.where %c, %x, %x : (tensor<2x3xi1>, tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<3x3xf32>
    func.return %0 : tensor<3x3xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.where: result shape must be (2, 3)

// -----
// branch types
builtin.module {
  func.func @main(%c: tensor<2x3xi1>, %x: tensor<2x3xf32>, %y: tensor<2x3xi64>) -> tensor<2x3xf32> {
    %0 = nn.where %c, %x, %y : (tensor<2x3xi1>, tensor<2x3xf32>, tensor<2x3xi64>) -> tensor<2x3xf32>
    func.return %0 : tensor<2x3xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.where: both branches must have the same element type
