// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for nn.concat, one case per `// -----` section, each with the verifier's message.

// -----
// no inputs
builtin.module {
  func.func @main() -> tensor<2xf32> {
    %0 = nn.concat {axis = 0 : i64} : () -> tensor<2xf32>
    func.return %0 : tensor<2xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.concat: needs at least one input

// -----
// axis
builtin.module {
  func.func @main(%x: tensor<2x3xf32>) -> tensor<2x6xf32> {
    %0 = nn.concat %x, %x {axis = 2 : i64} : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x6xf32>
    func.return %0 : tensor<2x6xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.concat: axis 2 is out of range for rank 2

// -----
// shapes off the axis
builtin.module {
  func.func @main(%x: tensor<2x3xf32>, %y: tensor<3x3xf32>) -> tensor<2x6xf32> {
    %0 = nn.concat %x, %y {axis = 1 : i64} : (tensor<2x3xf32>, tensor<3x3xf32>) -> tensor<2x6xf32>
    func.return %0 : tensor<2x6xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.concat: input (3, 3) does not fit result (2, 6) off axis 1

// -----
// size on the axis
builtin.module {
  func.func @main(%x: tensor<2x3xf32>) -> tensor<2x5xf32> {
    %0 = nn.concat %x, %x {axis = 1 : i64} : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x5xf32>
    func.return %0 : tensor<2x5xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.concat: inputs add up to 6 on axis 1, not 5
