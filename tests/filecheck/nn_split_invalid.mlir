// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for nn.split, one case per `// -----` section, each with the verifier's message.

// -----
// sizes
builtin.module {
  func.func @main(%x: tensor<2x5xf32>) -> (tensor<2x2xf32>, tensor<2x2xf32>) {
    %0, %1 = nn.split %x {axis = 1 : i64} : (tensor<2x5xf32>) -> (tensor<2x2xf32>, tensor<2x2xf32>)
    func.return %0, %1 : tensor<2x2xf32>, tensor<2x2xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.split: parts add up to 4, not 5

// -----
// axis
builtin.module {
  func.func @main(%x: tensor<2x5xf32>) -> (tensor<2x2xf32>, tensor<2x2xf32>) {
    %0, %1 = nn.split %x {axis = 2 : i64} : (tensor<2x5xf32>) -> (tensor<2x2xf32>, tensor<2x2xf32>)
    func.return %0, %1 : tensor<2x2xf32>, tensor<2x2xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.split: axis 2 is out of range for rank 2
