// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for nn.pad, one case per `// -----` section, each with the verifier's message.

// -----
// pads count
builtin.module {
  func.func @main(%x: tensor<2x3xf32>) -> tensor<3x3xf32> {
    %0 = nn.pad %x {pads = array<i64: 1, 0>, mode = "constant", value = 0.000000e+00 : f64} : (tensor<2x3xf32>) -> tensor<3x3xf32>
    func.return %0 : tensor<3x3xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.pad: pads needs 4 entries (begins, then ends), got 2

// -----
// negative pads
builtin.module {
  func.func @main(%x: tensor<2x3xf32>) -> tensor<1x3xf32> {
    %0 = nn.pad %x {pads = array<i64: -1, 0, 0, 0>, mode = "constant", value = 0.000000e+00 : f64} : (tensor<2x3xf32>) -> tensor<1x3xf32>
    func.return %0 : tensor<1x3xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.pad: pads must not be negative

// -----
// result shape
builtin.module {
  func.func @main(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
    %0 = nn.pad %x {pads = array<i64: 1, 0, 0, 0>, mode = "constant", value = 0.000000e+00 : f64} : (tensor<2x3xf32>) -> tensor<2x3xf32>
    func.return %0 : tensor<2x3xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.pad: result shape must be (3, 3)

// -----
// mode
builtin.module {
  func.func @main(%x: tensor<2x3xf32>) -> tensor<3x3xf32> {
    %0 = nn.pad %x {pads = array<i64: 1, 0, 0, 0>, mode = "mirror", value = 0.000000e+00 : f64} : (tensor<2x3xf32>) -> tensor<3x3xf32>
    func.return %0 : tensor<3x3xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.pad: mode must be one of constant, reflect, edge, wrap
