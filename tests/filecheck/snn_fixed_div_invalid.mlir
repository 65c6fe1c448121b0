// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for snn.fixed_div, one case per `// -----` section, each with the verifier's message.

// -----
// frac_bits
builtin.module {
  func.func @main(%a: tensor<2x3xi64>, %b: tensor<2x1xi64>) -> tensor<2x3xi32> {
    %0 = snn.fixed_div %a, %b {frac_bits = 40 : i64} : (tensor<2x3xi64>, tensor<2x1xi64>) -> tensor<2x3xi32>
    func.return %0 : tensor<2x3xi32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.fixed_div: frac_bits must be in [0, 30]

// -----
// divisor shape
builtin.module {
  func.func @main(%a: tensor<2x3xi64>, %b: tensor<2xi64>) -> tensor<2x3xi32> {
    %0 = snn.fixed_div %a, %b {frac_bits = 8 : i64} : (tensor<2x3xi64>, tensor<2xi64>) -> tensor<2x3xi32>
    func.return %0 : tensor<2x3xi32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.fixed_div: the divisor (2,) must broadcast to the dividend (2, 3)

// -----
// result shape
builtin.module {
  func.func @main(%a: tensor<2x3xi64>, %b: tensor<2x1xi64>) -> tensor<3x2xi32> {
    %0 = snn.fixed_div %a, %b {frac_bits = 8 : i64} : (tensor<2x3xi64>, tensor<2x1xi64>) -> tensor<3x2xi32>
    func.return %0 : tensor<3x2xi32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.fixed_div: result shape must equal the dividend's
