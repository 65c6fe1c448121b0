// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for snn.conv_synapse, one case per `// -----` section, each with the verifier's message.

// -----
// accumulator width
builtin.module {
  func.func @main(%c: !snn.counts<1x3x8x8, 15>, %w: tensor<4x3x3x3xi8>) -> tensor<1x4x6x6xi16> {
    %0 = snn.conv_synapse %c, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 1 : i64, acc_bits = 32 : i64} : (!snn.counts<1x3x8x8, 15>, tensor<4x3x3x3xi8>) -> tensor<1x4x6x6xi16>
    func.return %0 : tensor<1x4x6x6xi16>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.conv_synapse: result element width must equal acc_bits

// -----
// overflow
builtin.module {
  func.func @main(%c: !snn.counts<1x512x8x8, 255>, %w: tensor<4x512x3x3xi8>) -> tensor<1x4x6x6xi16> {
    %0 = snn.conv_synapse %c, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 1 : i64, acc_bits = 16 : i64} : (!snn.counts<1x512x8x8, 255>, tensor<4x512x3x3xi8>) -> tensor<1x4x6x6xi16>
    func.return %0 : tensor<1x4x6x6xi16>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.conv_synapse: accumulator of 16 bits can overflow
