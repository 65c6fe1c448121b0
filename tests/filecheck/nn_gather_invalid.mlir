// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for nn.gather, one case per `// -----` section, each with the verifier's message.

// -----
// axis
builtin.module {
  func.func @main(%x: tensor<5x4xf32>, %i: tensor<3xi64>) -> tensor<3x4xf32> {
    %0 = nn.gather %x, %i {axis = 2 : i64} : (tensor<5x4xf32>, tensor<3xi64>) -> tensor<3x4xf32>
    func.return %0 : tensor<3x4xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.gather: axis 2 is out of range for rank 2

// -----
// result shape
builtin.module {
  func.func @main(%x: tensor<5x4xf32>, %i: tensor<3xi64>) -> tensor<5x4xf32> {
    %0 = nn.gather %x, %i {axis = 0 : i64} : (tensor<5x4xf32>, tensor<3xi64>) -> tensor<5x4xf32>
    func.return %0 : tensor<5x4xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.gather: result shape must be (3, 4)
