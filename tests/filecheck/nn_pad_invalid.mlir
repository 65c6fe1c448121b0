// RUN: awk -v k=1 '/^\/\/ -----/{i++} i==k' %s | not nscc opt - 2>&1 | filecheck %s --check-prefix=CHECK1
// RUN: awk -v k=2 '/^\/\/ -----/{i++} i==k' %s | not nscc opt - 2>&1 | filecheck %s --check-prefix=CHECK2
// RUN: awk -v k=3 '/^\/\/ -----/{i++} i==k' %s | not nscc opt - 2>&1 | filecheck %s --check-prefix=CHECK3
// RUN: awk -v k=4 '/^\/\/ -----/{i++} i==k' %s | not nscc opt - 2>&1 | filecheck %s --check-prefix=CHECK4

// Invalid IR for nn.pad, one case per `// -----` section, each with the verifier's message.

// -----
// pads count
builtin.module {
  func.func @main(%x: tensor<2x3xf32>) -> tensor<3x3xf32> {
    %0 = nn.pad %x {pads = array<i64: 1, 0>, mode = "constant", value = 0.000000e+00 : f64} : (tensor<2x3xf32>) -> tensor<3x3xf32>
    func.return %0 : tensor<3x3xf32>
  }
}
// CHECK1: nscc: error: <stdin>: IR does not verify: nn.pad: pads needs 4 entries (begins, then ends), got 2

// -----
// negative pads
builtin.module {
  func.func @main(%x: tensor<2x3xf32>) -> tensor<1x3xf32> {
    %0 = nn.pad %x {pads = array<i64: -1, 0, 0, 0>, mode = "constant", value = 0.000000e+00 : f64} : (tensor<2x3xf32>) -> tensor<1x3xf32>
    func.return %0 : tensor<1x3xf32>
  }
}
// CHECK2: nscc: error: <stdin>: IR does not verify: nn.pad: pads must not be negative

// -----
// result shape
builtin.module {
  func.func @main(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
    %0 = nn.pad %x {pads = array<i64: 1, 0, 0, 0>, mode = "constant", value = 0.000000e+00 : f64} : (tensor<2x3xf32>) -> tensor<2x3xf32>
    func.return %0 : tensor<2x3xf32>
  }
}
// CHECK3: nscc: error: <stdin>: IR does not verify: nn.pad: result shape must be (3, 3)

// -----
// mode
builtin.module {
  func.func @main(%x: tensor<2x3xf32>) -> tensor<3x3xf32> {
    %0 = nn.pad %x {pads = array<i64: 1, 0, 0, 0>, mode = "mirror", value = 0.000000e+00 : f64} : (tensor<2x3xf32>) -> tensor<3x3xf32>
    func.return %0 : tensor<3x3xf32>
  }
}
// CHECK4: nscc: error: <stdin>: IR does not verify: nn.pad: mode must be one of constant, reflect, edge, wrap
