// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for snn.fixed_encode, one case per `// -----` section, each with the verifier's message.

// -----
// result shape
builtin.module {
  func.func @main(%x: tensor<2x3xf32>) -> tensor<3x2xi32> {
    %0 = snn.fixed_encode %x {frac_bits = 8 : i64} : (tensor<2x3xf32>) -> tensor<3x2xi32>
    func.return %0 : tensor<3x2xi32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.fixed_encode: result shape must equal input shape

// -----
// frac_bits
builtin.module {
  func.func @main(%x: tensor<2x3xf32>) -> tensor<2x3xi32> {
    %0 = snn.fixed_encode %x {frac_bits = 31 : i64} : (tensor<2x3xf32>) -> tensor<2x3xi32>
    func.return %0 : tensor<2x3xi32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.fixed_encode: frac_bits must be in [0, 30]

// -----
// i32 result
builtin.module {
  func.func @main(%x: tensor<2x3xf32>) -> tensor<2x3xi16> {
    %0 = snn.fixed_encode %x {frac_bits = 8 : i64} : (tensor<2x3xf32>) -> tensor<2x3xi16>
    func.return %0 : tensor<2x3xi16>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.fixed_encode: fixed-point values are i32 tensors, got tensor<2x3xi16>
