// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for snn.fixed_mul, one case per `// -----` section, each with the verifier's message.

// -----
// element type
builtin.module {
  func.func @main(%x: tensor<2x3xi16>) -> tensor<2x3xi16> {
    %0 = snn.fixed_mul %x, %x {frac_bits = 16 : i64} : (tensor<2x3xi16>, tensor<2x3xi16>) -> tensor<2x3xi16>
    func.return %0 : tensor<2x3xi16>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.fixed_mul: fixed-point values are i32 tensors, got tensor<2x3xi16>

// -----
// operands that do not broadcast
builtin.module {
  func.func @main(%x: tensor<2x3xi32>, %y: tensor<4xi32>) -> tensor<2x3xi32> {
    %0 = snn.fixed_mul %x, %y {frac_bits = 16 : i64} : (tensor<2x3xi32>, tensor<4xi32>) -> tensor<2x3xi32>
    func.return %0 : tensor<2x3xi32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.fixed_mul: operand shapes (2, 3) and (4,) do not broadcast

// -----
// result shape
builtin.module {
  func.func @main(%x: tensor<2x3xi32>, %y: tensor<3xi32>) -> tensor<3x3xi32> {
    %0 = snn.fixed_mul %x, %y {frac_bits = 16 : i64} : (tensor<2x3xi32>, tensor<3xi32>) -> tensor<3x3xi32>
    func.return %0 : tensor<3x3xi32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.fixed_mul: result shape must be (2, 3)

// -----
// frac_bits
builtin.module {
  func.func @main(%x: tensor<2x3xi32>) -> tensor<2x3xi32> {
    %0 = snn.fixed_mul %x, %x {frac_bits = 40 : i64} : (tensor<2x3xi32>, tensor<2x3xi32>) -> tensor<2x3xi32>
    func.return %0 : tensor<2x3xi32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.fixed_mul: frac_bits must be in [0, 30]
