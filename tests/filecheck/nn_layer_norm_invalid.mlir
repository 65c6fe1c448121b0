// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for nn.layer_norm, one case per `// -----` section, each with the verifier's message.

// -----
// axis
builtin.module {
  func.func @main(%x: tensor<2x3xf32>, %s: tensor<3xf32>) -> tensor<2x3xf32> {
    %0 = nn.layer_norm %x, %s {axis = 3 : i64, epsilon = 1.000000e-05 : f64} : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
    func.return %0 : tensor<2x3xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.layer_norm: axis 3 is out of range for rank 2

// -----
// scale shape
builtin.module {
  func.func @main(%x: tensor<2x3xf32>, %s: tensor<4xf32>) -> tensor<2x3xf32> {
    %0 = nn.layer_norm %x, %s {axis = -1 : i64, epsilon = 1.000000e-05 : f64} : (tensor<2x3xf32>, tensor<4xf32>) -> tensor<2x3xf32>
    func.return %0 : tensor<2x3xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.layer_norm: scale and bias must broadcast to the input shape (2, 3), got (4,)

// -----
// result shape
builtin.module {
  func.func @main(%x: tensor<2x3xf32>, %s: tensor<3xf32>) -> tensor<3x2xf32> {
    %0 = nn.layer_norm %x, %s {axis = -1 : i64, epsilon = 1.000000e-05 : f64} : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<3x2xf32>
    func.return %0 : tensor<3x2xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.layer_norm: result shape must equal input shape
