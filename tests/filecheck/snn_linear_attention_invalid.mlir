// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for snn.linear_attention, one case per `// -----` section, each with the verifier's message.

// -----
// q, k and v
builtin.module {
  func.func @main(%q: !snn.counts<1x4x8, 15>, %k: !snn.counts<1x4x7, 15>, %v: !snn.counts<1x4x6, 15>) -> (tensor<1x4x6xi64>, tensor<1x4xi64>) {
    %0, %1 = snn.linear_attention %q, %k, %v {decay_shift = 0 : i64} : (!snn.counts<1x4x8, 15>, !snn.counts<1x4x7, 15>, !snn.counts<1x4x6, 15>) -> (tensor<1x4x6xi64>, tensor<1x4xi64>)
    func.return %0, %1 : tensor<1x4x6xi64>, tensor<1x4xi64>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.linear_attention: q (1, 4, 8), k (1, 4, 7) and v (1, 4, 6) disagree

// -----
// outputs
builtin.module {
  func.func @main(%q: !snn.counts<1x4x8, 15>, %k: !snn.counts<1x4x8, 15>, %v: !snn.counts<1x4x6, 15>) -> (tensor<1x4x5xi64>, tensor<1x4xi64>) {
    %0, %1 = snn.linear_attention %q, %k, %v {decay_shift = 0 : i64} : (!snn.counts<1x4x8, 15>, !snn.counts<1x4x8, 15>, !snn.counts<1x4x6, 15>) -> (tensor<1x4x5xi64>, tensor<1x4xi64>)
    func.return %0, %1 : tensor<1x4x5xi64>, tensor<1x4xi64>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.linear_attention: outputs must be v's shape and v's shape without its last axis

// -----
// decay_shift
builtin.module {
  func.func @main(%q: !snn.counts<1x4x8, 15>, %k: !snn.counts<1x4x8, 15>, %v: !snn.counts<1x4x6, 15>) -> (tensor<1x4x6xi64>, tensor<1x4xi64>) {
    %0, %1 = snn.linear_attention %q, %k, %v {decay_shift = -1 : i64} : (!snn.counts<1x4x8, 15>, !snn.counts<1x4x8, 15>, !snn.counts<1x4x6, 15>) -> (tensor<1x4x6xi64>, tensor<1x4xi64>)
    func.return %0, %1 : tensor<1x4x6xi64>, tensor<1x4xi64>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.linear_attention: decay_shift must be >= 0

// -----
// bidirectional sums have no decayed form
builtin.module {
  func.func @main(%q: !snn.counts<1x4x8, 15>, %k: !snn.counts<1x4x8, 15>, %v: !snn.counts<1x4x6, 15>) -> (tensor<1x4x6xi64>, tensor<1x4xi64>) {
    %0, %1 = snn.linear_attention %q, %k, %v {decay_shift = 3 : i64, bidirectional} : (!snn.counts<1x4x8, 15>, !snn.counts<1x4x8, 15>, !snn.counts<1x4x6, 15>) -> (tensor<1x4x6xi64>, tensor<1x4xi64>)
    func.return %0, %1 : tensor<1x4x6xi64>, tensor<1x4xi64>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.linear_attention: a mask or bidirectional attention needs decay_shift = 0

// -----
// a mask without its fraction bits
builtin.module {
  func.func @main(%q: !snn.counts<1x4x8, 15>, %k: !snn.counts<1x4x8, 15>, %v: !snn.counts<1x4x6, 15>, %m: tensor<1x1x4xi32>) -> (tensor<1x4x6xi64>, tensor<1x4xi64>) {
    %0, %1 = snn.linear_attention %q, %k, %v, %m {decay_shift = 0 : i64, bidirectional} : (!snn.counts<1x4x8, 15>, !snn.counts<1x4x8, 15>, !snn.counts<1x4x6, 15>, tensor<1x1x4xi32>) -> (tensor<1x4x6xi64>, tensor<1x4xi64>)
    func.return %0, %1 : tensor<1x4x6xi64>, tensor<1x4xi64>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.linear_attention: a mask needs frac_bits

// -----
// a mask that does not broadcast to the scores
builtin.module {
  func.func @main(%q: !snn.counts<1x4x8, 15>, %k: !snn.counts<1x4x8, 15>, %v: !snn.counts<1x4x6, 15>, %m: tensor<1x3xi32>) -> (tensor<1x4x6xi64>, tensor<1x4xi64>) {
    %0, %1 = snn.linear_attention %q, %k, %v, %m {decay_shift = 0 : i64, bidirectional, frac_bits = 16 : i64} : (!snn.counts<1x4x8, 15>, !snn.counts<1x4x8, 15>, !snn.counts<1x4x6, 15>, tensor<1x3xi32>) -> (tensor<1x4x6xi64>, tensor<1x4xi64>)
    func.return %0, %1 : tensor<1x4x6xi64>, tensor<1x4xi64>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.linear_attention: the mask (1, 3) must broadcast to the scores (1, 4, 4)
