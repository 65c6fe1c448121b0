// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for snn.synapse, one case per `// -----` section, each with the verifier's message.

// -----
// contraction
builtin.module {
  func.func @main(%c: !snn.counts<2x8, 15>, %w: tensor<4x3xi8>) -> tensor<2x3xi32> {
    %0 = snn.synapse %c, %w {acc_bits = 32 : i64} : (!snn.counts<2x8, 15>, tensor<4x3xi8>) -> tensor<2x3xi32>
    func.return %0 : tensor<2x3xi32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.synapse: input (2, 8) does not contract with weight (4, 3)

// -----
// result shape
builtin.module {
  func.func @main(%c: !snn.counts<2x8, 15>, %w: tensor<8x3xi8>) -> tensor<2x4xi32> {
    %0 = snn.synapse %c, %w {acc_bits = 32 : i64} : (!snn.counts<2x8, 15>, tensor<8x3xi8>) -> tensor<2x4xi32>
    func.return %0 : tensor<2x4xi32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.synapse: result shape must be input[:-1] + [weight columns]

// -----
// accumulator width
builtin.module {
  func.func @main(%c: !snn.counts<2x8, 15>, %w: tensor<8x3xi8>) -> tensor<2x3xi16> {
    %0 = snn.synapse %c, %w {acc_bits = 32 : i64} : (!snn.counts<2x8, 15>, tensor<8x3xi8>) -> tensor<2x3xi16>
    func.return %0 : tensor<2x3xi16>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.synapse: result element width must equal acc_bits

// -----
// group scale
builtin.module {
  func.func @main(%c: !snn.counts<2x8, 15>, %w: tensor<8x3xi8>, %g: tensor<3x3xi8>) -> tensor<2x3xi32> {
    %0 = snn.synapse %c, %w, %g {acc_bits = 32 : i64} : (!snn.counts<2x8, 15>, tensor<8x3xi8>, tensor<3x3xi8>) -> tensor<2x3xi32>
    func.return %0 : tensor<2x3xi32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.synapse: group scale must be i8 of shape [groups dividing 8, 3], got (3, 3)
