// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for snn.attention, one case per `// -----` section, each with the verifier's message.

// -----
// key-value heads that do not divide the query heads
builtin.module {
  func.func @main(%q: !snn.counts<1x4x5x8, 15, signed>, %k: !snn.counts<1x3x5x8, 15, signed>, %v: !snn.counts<1x3x5x2, 15, signed>) -> tensor<1x4x5x2xi64> {
    %0 = snn.attention %q, %k, %v {multiplier = 1000 : i64, shift = 10 : i64, frac_bits = 16 : i64, causal} : (!snn.counts<1x4x5x8, 15, signed>, !snn.counts<1x3x5x8, 15, signed>, !snn.counts<1x3x5x2, 15, signed>) -> tensor<1x4x5x2xi64>
    func.return %0 : tensor<1x4x5x2xi64>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.attention: the 3 key-value heads must divide the 4 query heads

// -----
// q and k features differ
builtin.module {
  func.func @main(%q: !snn.counts<1x4x5x8, 15, signed>, %k: !snn.counts<1x2x5x4, 15, signed>, %v: !snn.counts<1x2x5x2, 15, signed>) -> tensor<1x4x5x2xi64> {
    %0 = snn.attention %q, %k, %v {multiplier = 1000 : i64, shift = 10 : i64, frac_bits = 16 : i64, causal} : (!snn.counts<1x4x5x8, 15, signed>, !snn.counts<1x2x5x4, 15, signed>, !snn.counts<1x2x5x2, 15, signed>) -> tensor<1x4x5x2xi64>
    func.return %0 : tensor<1x4x5x2xi64>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.attention: q (1, 4, 5, 8), k (1, 2, 5, 4) and v (1, 2, 5, 2) disagree

// -----
// result type
builtin.module {
  func.func @main(%q: !snn.counts<1x4x5x8, 15, signed>, %k: !snn.counts<1x2x5x8, 15, signed>, %v: !snn.counts<1x2x5x2, 15, signed>) -> tensor<1x4x5x2xi32> {
    %0 = snn.attention %q, %k, %v {multiplier = 1000 : i64, shift = 10 : i64, frac_bits = 16 : i64, causal} : (!snn.counts<1x4x5x8, 15, signed>, !snn.counts<1x2x5x8, 15, signed>, !snn.counts<1x2x5x2, 15, signed>) -> tensor<1x4x5x2xi32>
    func.return %0 : tensor<1x4x5x2xi32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.attention: the result must be tensor<1x4x5x2xi64>

// -----
// multiplier
builtin.module {
  func.func @main(%q: !snn.counts<1x4x5x8, 15, signed>, %k: !snn.counts<1x2x5x8, 15, signed>, %v: !snn.counts<1x2x5x2, 15, signed>) -> tensor<1x4x5x2xi64> {
    %0 = snn.attention %q, %k, %v {multiplier = 0 : i64, shift = 10 : i64, frac_bits = 16 : i64, causal} : (!snn.counts<1x4x5x8, 15, signed>, !snn.counts<1x2x5x8, 15, signed>, !snn.counts<1x2x5x2, 15, signed>) -> tensor<1x4x5x2xi64>
    func.return %0 : tensor<1x4x5x2xi64>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.attention: the logit scale needs 0 < multiplier < 2^31 and shift >= 0

// -----
// mask shape
builtin.module {
  func.func @main(%q: !snn.counts<1x4x5x8, 15, signed>, %k: !snn.counts<1x2x5x8, 15, signed>, %v: !snn.counts<1x2x5x2, 15, signed>, %m: tensor<1x1x5x4xi32>) -> tensor<1x4x5x2xi64> {
    %0 = snn.attention %q, %k, %v, %m {multiplier = 1000 : i64, shift = 10 : i64, frac_bits = 16 : i64, causal} : (!snn.counts<1x4x5x8, 15, signed>, !snn.counts<1x2x5x8, 15, signed>, !snn.counts<1x2x5x2, 15, signed>, tensor<1x1x5x4xi32>) -> tensor<1x4x5x2xi64>
    func.return %0 : tensor<1x4x5x2xi64>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.attention: the mask (1, 1, 5, 4) must broadcast to the scores (1, 4, 5, 5)

// -----
// mask type
builtin.module {
  func.func @main(%q: !snn.counts<1x4x5x8, 15, signed>, %k: !snn.counts<1x2x5x8, 15, signed>, %v: !snn.counts<1x2x5x2, 15, signed>, %m: tensor<1x1x5x5xf32>) -> tensor<1x4x5x2xi64> {
    %0 = snn.attention %q, %k, %v, %m {multiplier = 1000 : i64, shift = 10 : i64, frac_bits = 16 : i64, causal} : (!snn.counts<1x4x5x8, 15, signed>, !snn.counts<1x2x5x8, 15, signed>, !snn.counts<1x2x5x2, 15, signed>, tensor<1x1x5x5xf32>) -> tensor<1x4x5x2xi64>
    func.return %0 : tensor<1x4x5x2xi64>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.attention: fixed-point values are i32 tensors, got tensor<1x1x5x5xf32>

// -----
// q as a tensor
builtin.module {
  func.func @main(%q: tensor<1x4x5x8xi8>, %k: !snn.counts<1x2x5x8, 15, signed>, %v: !snn.counts<1x2x5x2, 15, signed>) -> tensor<1x4x5x2xi64> {
    %0 = snn.attention %q, %k, %v {multiplier = 1000 : i64, shift = 10 : i64, frac_bits = 16 : i64, causal} : (tensor<1x4x5x8xi8>, !snn.counts<1x2x5x8, 15, signed>, !snn.counts<1x2x5x2, 15, signed>) -> tensor<1x4x5x2xi64>
    func.return %0 : tensor<1x4x5x2xi64>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: tensor<1x4x5x8xi8> should be of base attribute snn.counts
