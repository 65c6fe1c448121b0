// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for snn.feature_map, one case per `// -----` section, each with the verifier's message.

// -----
// one multiplier per head
builtin.module {
  func.func @main(%x: !snn.counts<1x2x3x4, 31, signed>, %w: tensor<2x4x4xi8>, %m: tensor<3xi64>) -> !snn.counts<1x2x3x8, 31> {
    %0 = snn.feature_map %x, %w, %m {shift = 20 : i64, frac_bits = 16 : i64, divisor = 64 : i64} : (!snn.counts<1x2x3x4, 31, signed>, tensor<2x4x4xi8>, tensor<3xi64>) -> !snn.counts<1x2x3x8, 31>
    func.return %0 : !snn.counts<1x2x3x8, 31>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.feature_map: the multiplier must be tensor<2xi64>, one per head

// -----
// integer weights only
builtin.module {
  func.func @main(%x: !snn.counts<1x2x3x4, 31, signed>, %w: tensor<2x4x4xf32>, %m: tensor<2xi64>) -> !snn.counts<1x2x3x8, 31> {
    %0 = snn.feature_map %x, %w, %m {shift = 20 : i64, frac_bits = 16 : i64, divisor = 64 : i64} : (!snn.counts<1x2x3x4, 31, signed>, tensor<2x4x4xf32>, tensor<2xi64>) -> !snn.counts<1x2x3x8, 31>
    func.return %0 : !snn.counts<1x2x3x8, 31>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.feature_map: the weights must be integers

// -----
// probabilities are non-negative: unsigned counts
builtin.module {
  func.func @main(%x: !snn.counts<1x2x3x4, 31, signed>, %w: tensor<2x4x4xi8>, %m: tensor<2xi64>) -> !snn.counts<1x2x3x8, 31, signed> {
    %0 = snn.feature_map %x, %w, %m {shift = 20 : i64, frac_bits = 16 : i64, divisor = 64 : i64} : (!snn.counts<1x2x3x4, 31, signed>, tensor<2x4x4xi8>, tensor<2xi64>) -> !snn.counts<1x2x3x8, 31, signed>
    func.return %0 : !snn.counts<1x2x3x8, 31, signed>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.feature_map: the result counts are unsigned

// -----
// a zero divisor
builtin.module {
  func.func @main(%x: !snn.counts<1x2x3x4, 31, signed>, %w: tensor<2x4x4xi8>, %m: tensor<2xi64>) -> !snn.counts<1x2x3x8, 31> {
    %0 = snn.feature_map %x, %w, %m {shift = 20 : i64, frac_bits = 16 : i64, divisor = 0 : i64} : (!snn.counts<1x2x3x4, 31, signed>, tensor<2x4x4xi8>, tensor<2xi64>) -> !snn.counts<1x2x3x8, 31>
    func.return %0 : !snn.counts<1x2x3x8, 31>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.feature_map: shift must be in [0, 62] and divisor >= 1
