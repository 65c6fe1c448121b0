// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for snn.fixed_silu, one case per `// -----` section, each with the verifier's message.

// -----
// frac_bits
builtin.module {
  func.func @main(%x: tensor<2x3xi32>) -> tensor<2x3xi32> {
    %0 = snn.fixed_silu %x {frac_bits = 31 : i64, alpha = 1073741824 : i64} : (tensor<2x3xi32>) -> tensor<2x3xi32>
    func.return %0 : tensor<2x3xi32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.fixed_silu: frac_bits must be in [0, 30]

// -----
// alpha
builtin.module {
  func.func @main(%x: tensor<2x3xi32>) -> tensor<2x3xi32> {
    %0 = snn.fixed_silu %x {frac_bits = 16 : i64, alpha = 0 : i64} : (tensor<2x3xi32>) -> tensor<2x3xi32>
    func.return %0 : tensor<2x3xi32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.fixed_silu: alpha must be in (0, 2^31)

// -----
// element type
builtin.module {
  func.func @main(%x: tensor<2x3xi16>) -> tensor<2x3xi32> {
    %0 = snn.fixed_silu %x {frac_bits = 16 : i64, alpha = 1073741824 : i64} : (tensor<2x3xi16>) -> tensor<2x3xi32>
    func.return %0 : tensor<2x3xi32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.fixed_silu: fixed-point values are i32 tensors, got tensor<2x3xi16>

// -----
// result shape
builtin.module {
  func.func @main(%x: tensor<2x3xi32>) -> tensor<3x2xi32> {
    %0 = snn.fixed_silu %x {frac_bits = 16 : i64, alpha = 1073741824 : i64} : (tensor<2x3xi32>) -> tensor<3x2xi32>
    func.return %0 : tensor<3x2xi32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.fixed_silu: result shape must equal input shape
