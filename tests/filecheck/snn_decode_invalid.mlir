// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for snn.decode, one case per `// -----` section, each with the verifier's message.

// -----
// integer input
builtin.module {
  func.func @main(%a: tensor<2x3xf32>, %s: tensor<3xf32>) -> tensor<2x3xf32> {
    %0 = snn.decode %a, %s {axis = 1 : i64} : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
    func.return %0 : tensor<2x3xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.decode: input must be an integer accumulator, got tensor<2x3xf32>

// -----
// result shape
builtin.module {
  func.func @main(%a: tensor<2x3xi32>, %s: tensor<3xf32>) -> tensor<3x2xf32> {
    %0 = snn.decode %a, %s {axis = 1 : i64} : (tensor<2x3xi32>, tensor<3xf32>) -> tensor<3x2xf32>
    func.return %0 : tensor<3x2xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.decode: result shape must equal input shape

// -----
// axis
builtin.module {
  func.func @main(%a: tensor<2x3xi32>, %s: tensor<3xf32>) -> tensor<2x3xf32> {
    %0 = snn.decode %a, %s {axis = 2 : i64} : (tensor<2x3xi32>, tensor<3xf32>) -> tensor<2x3xf32>
    func.return %0 : tensor<2x3xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.decode: axis 2 is out of range for rank 2

// -----
// scale shape
builtin.module {
  func.func @main(%a: tensor<2x3xi32>, %s: tensor<4xf32>) -> tensor<2x3xf32> {
    %0 = snn.decode %a, %s {axis = 1 : i64} : (tensor<2x3xi32>, tensor<4xf32>) -> tensor<2x3xf32>
    func.return %0 : tensor<2x3xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.decode: scale must be a scalar or have 3 values (axis 1), got shape (4,)

// -----
// bias shape
builtin.module {
  func.func @main(%a: tensor<2x3xi32>, %s: tensor<f32>, %b: tensor<2xf32>) -> tensor<2x3xf32> {
    %0 = snn.decode %a, %s, %b {axis = 1 : i64} : (tensor<2x3xi32>, tensor<f32>, tensor<2xf32>) -> tensor<2x3xf32>
    func.return %0 : tensor<2x3xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.decode: bias must be a scalar or have 3 values (axis 1), got shape (2,)
