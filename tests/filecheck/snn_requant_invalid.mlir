// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for snn.requant, one case per `// -----` section, each with the verifier's message.

// -----
// result shape
builtin.module {
  func.func @main(%a: tensor<2x3xi32>, %m: tensor<3xi32>) -> !snn.counts<2x4, 15> {
    %0 = snn.requant %a, %m {shift = 4 : i64, axis = 1 : i64} : (tensor<2x3xi32>, tensor<3xi32>) -> !snn.counts<2x4, 15>
    func.return %0 : !snn.counts<2x4, 15>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.requant: result shape must equal input shape

// -----
// shift
builtin.module {
  func.func @main(%a: tensor<2x3xi32>, %m: tensor<3xi32>) -> !snn.counts<2x3, 15> {
    %0 = snn.requant %a, %m {shift = 63 : i64, axis = 1 : i64} : (tensor<2x3xi32>, tensor<3xi32>) -> !snn.counts<2x3, 15>
    func.return %0 : !snn.counts<2x3, 15>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.requant: shift must be in [0, 62]

// -----
// multiplier shape
builtin.module {
  func.func @main(%a: tensor<2x3xi32>, %m: tensor<4xi32>) -> !snn.counts<2x3, 15> {
    %0 = snn.requant %a, %m {shift = 4 : i64, axis = 1 : i64} : (tensor<2x3xi32>, tensor<4xi32>) -> !snn.counts<2x3, 15>
    func.return %0 : !snn.counts<2x3, 15>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.requant: multiplier must be a scalar or have 3 values (axis 1), got shape (4,)

// -----
// bias fraction bits need a bias
builtin.module {
  func.func @main(%acc: tensor<2x3xi32>, %m: tensor<3xi32>) -> !snn.counts<2x3, 7> {
    %0 = snn.requant %acc, %m {shift = 20 : i64, axis = 1 : i64, bias_frac = 12 : i64} : (tensor<2x3xi32>, tensor<3xi32>) -> !snn.counts<2x3, 7>
    func.return %0 : !snn.counts<2x3, 7>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.requant: bias_frac must be in [1, 31], and only with a bias
