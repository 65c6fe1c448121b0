// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for snn.fixed_rms_norm, one case per `// -----` section, each with the verifier's message.

// -----
// axis
builtin.module {
  func.func @main(%x: tensor<2x16xi32>, %g: tensor<16xi32>) -> tensor<2x16xi32> {
    %0 = snn.fixed_rms_norm %x, %g {axis = 2 : i64, frac_bits = 8 : i64, var_shift = 3 : i64, epsilon = 1 : i64} : (tensor<2x16xi32>, tensor<16xi32>) -> tensor<2x16xi32>
    func.return %0 : tensor<2x16xi32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.fixed_rms_norm: axis 2 is out of range for rank 2

// -----
// frac_bits
builtin.module {
  func.func @main(%x: tensor<2x16xi32>, %g: tensor<16xi32>) -> tensor<2x16xi32> {
    %0 = snn.fixed_rms_norm %x, %g {axis = 1 : i64, frac_bits = 31 : i64, var_shift = 3 : i64, epsilon = 1 : i64} : (tensor<2x16xi32>, tensor<16xi32>) -> tensor<2x16xi32>
    func.return %0 : tensor<2x16xi32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.fixed_rms_norm: frac_bits must be in [0, 30]

// -----
// gamma shape
builtin.module {
  func.func @main(%x: tensor<2x16xi32>, %g: tensor<8xi32>) -> tensor<2x16xi32> {
    %0 = snn.fixed_rms_norm %x, %g {axis = 1 : i64, frac_bits = 8 : i64, var_shift = 3 : i64, epsilon = 1 : i64} : (tensor<2x16xi32>, tensor<8xi32>) -> tensor<2x16xi32>
    func.return %0 : tensor<2x16xi32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.fixed_rms_norm: gamma must broadcast to the input shape (2, 16), got (8,)

// -----
// result shape
builtin.module {
  func.func @main(%x: tensor<2x16xi32>, %g: tensor<16xi32>) -> tensor<16x2xi32> {
    %0 = snn.fixed_rms_norm %x, %g {axis = 1 : i64, frac_bits = 8 : i64, var_shift = 3 : i64, epsilon = 1 : i64} : (tensor<2x16xi32>, tensor<16xi32>) -> tensor<16x2xi32>
    func.return %0 : tensor<16x2xi32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.fixed_rms_norm: result shape must equal input shape

// -----
// var_shift
builtin.module {
  func.func @main(%x: tensor<2x16xi32>, %g: tensor<16xi32>) -> tensor<2x16xi32> {
    %0 = snn.fixed_rms_norm %x, %g {axis = 1 : i64, frac_bits = 8 : i64, var_shift = 0 : i64, epsilon = 1 : i64} : (tensor<2x16xi32>, tensor<16xi32>) -> tensor<2x16xi32>
    func.return %0 : tensor<2x16xi32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.fixed_rms_norm: var_shift 0 lets the sum of 16 squares overflow 64 bits (needs >= 3)
