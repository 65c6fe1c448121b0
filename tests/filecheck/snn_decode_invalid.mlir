// RUN: awk -v k=1 '/^\/\/ -----/{i++} i==k' %s | not nscc opt - 2>&1 | filecheck %s --check-prefix=CHECK1
// RUN: awk -v k=2 '/^\/\/ -----/{i++} i==k' %s | not nscc opt - 2>&1 | filecheck %s --check-prefix=CHECK2
// RUN: awk -v k=3 '/^\/\/ -----/{i++} i==k' %s | not nscc opt - 2>&1 | filecheck %s --check-prefix=CHECK3
// RUN: awk -v k=4 '/^\/\/ -----/{i++} i==k' %s | not nscc opt - 2>&1 | filecheck %s --check-prefix=CHECK4
// RUN: awk -v k=5 '/^\/\/ -----/{i++} i==k' %s | not nscc opt - 2>&1 | filecheck %s --check-prefix=CHECK5

// Invalid IR for snn.decode, one case per `// -----` section, each with the verifier's message.

// -----
// integer input
builtin.module {
  func.func @main(%a: tensor<2x3xf32>, %s: tensor<3xf32>) -> tensor<2x3xf32> {
    %0 = snn.decode %a, %s {axis = 1 : i64} : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
    func.return %0 : tensor<2x3xf32>
  }
}
// CHECK1: nscc: error: <stdin>: IR does not verify: snn.decode: input must be an integer accumulator, got tensor<2x3xf32>

// -----
// result shape
builtin.module {
  func.func @main(%a: tensor<2x3xi32>, %s: tensor<3xf32>) -> tensor<3x2xf32> {
    %0 = snn.decode %a, %s {axis = 1 : i64} : (tensor<2x3xi32>, tensor<3xf32>) -> tensor<3x2xf32>
    func.return %0 : tensor<3x2xf32>
  }
}
// CHECK2: nscc: error: <stdin>: IR does not verify: snn.decode: result shape must equal input shape

// -----
// axis
builtin.module {
  func.func @main(%a: tensor<2x3xi32>, %s: tensor<3xf32>) -> tensor<2x3xf32> {
    %0 = snn.decode %a, %s {axis = 2 : i64} : (tensor<2x3xi32>, tensor<3xf32>) -> tensor<2x3xf32>
    func.return %0 : tensor<2x3xf32>
  }
}
// CHECK3: nscc: error: <stdin>: IR does not verify: snn.decode: axis 2 is out of range for rank 2

// -----
// scale shape
builtin.module {
  func.func @main(%a: tensor<2x3xi32>, %s: tensor<4xf32>) -> tensor<2x3xf32> {
    %0 = snn.decode %a, %s {axis = 1 : i64} : (tensor<2x3xi32>, tensor<4xf32>) -> tensor<2x3xf32>
    func.return %0 : tensor<2x3xf32>
  }
}
// CHECK4: nscc: error: <stdin>: IR does not verify: snn.decode: scale must be a scalar or have 3 values (axis 1), got shape (4,)

// -----
// bias shape
builtin.module {
  func.func @main(%a: tensor<2x3xi32>, %s: tensor<f32>, %b: tensor<2xf32>) -> tensor<2x3xf32> {
    %0 = snn.decode %a, %s, %b {axis = 1 : i64} : (tensor<2x3xi32>, tensor<f32>, tensor<2xf32>) -> tensor<2x3xf32>
    func.return %0 : tensor<2x3xf32>
  }
}
// CHECK5: nscc: error: <stdin>: IR does not verify: snn.decode: bias must be a scalar or have 3 values (axis 1), got shape (2,)
