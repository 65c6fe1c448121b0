// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for snn.window_attention and its step, one case per `// -----` section, each with the verifier's message.

// -----
// one factor per query head
builtin.module {
  func.func @main(%q: !snn.counts<1x4x6x8, 15, signed>, %k: !snn.counts<1x2x6x8, 15, signed>, %v: !snn.counts<1x2x6x3, 15, signed>, %pq: !snn.counts<1x4x6x5, 15>, %pk: !snn.counts<1x2x6x5, 15>, %r: tensor<2xi64>) -> tensor<1x4x6x3xi64> {
    %0 = snn.window_attention %q, %k, %v, %pq, %pk, %r {multiplier = 100 : i64, shift = 4 : i64, frac_bits = 12 : i64, window = 3 : i64, sinks = 2 : i64, factor_shift = 6 : i64} : (!snn.counts<1x4x6x8, 15, signed>, !snn.counts<1x2x6x8, 15, signed>, !snn.counts<1x2x6x3, 15, signed>, !snn.counts<1x4x6x5, 15>, !snn.counts<1x2x6x5, 15>, tensor<2xi64>) -> tensor<1x4x6x3xi64>
    func.return %0 : tensor<1x4x6x3xi64>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.window_attention: the factor must be tensor<4xi64>, one per query head

// -----
// key features on the query heads
builtin.module {
  func.func @main(%q: !snn.counts<1x4x6x8, 15, signed>, %k: !snn.counts<1x2x6x8, 15, signed>, %v: !snn.counts<1x2x6x3, 15, signed>, %pq: !snn.counts<1x4x6x5, 15>, %pk: !snn.counts<1x4x6x5, 15>, %r: tensor<4xi64>) -> tensor<1x4x6x3xi64> {
    %0 = snn.window_attention %q, %k, %v, %pq, %pk, %r {multiplier = 100 : i64, shift = 4 : i64, frac_bits = 12 : i64, window = 3 : i64, sinks = 2 : i64, factor_shift = 6 : i64} : (!snn.counts<1x4x6x8, 15, signed>, !snn.counts<1x2x6x8, 15, signed>, !snn.counts<1x2x6x3, 15, signed>, !snn.counts<1x4x6x5, 15>, !snn.counts<1x4x6x5, 15>, tensor<4xi64>) -> tensor<1x4x6x3xi64>
    func.return %0 : tensor<1x4x6x3xi64>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.window_attention: features (1, 4, 6, 5) and (1, 4, 6, 5) must be [..., H, S, f] and [..., KVH, T, f] (q (1, 4, 6, 8), k (1, 2, 6, 8))

// -----
// an empty window
builtin.module {
  func.func @main(%q: !snn.counts<1x4x6x8, 15, signed>, %k: !snn.counts<1x2x6x8, 15, signed>, %v: !snn.counts<1x2x6x3, 15, signed>, %pq: !snn.counts<1x4x6x5, 15>, %pk: !snn.counts<1x2x6x5, 15>, %r: tensor<4xi64>) -> tensor<1x4x6x3xi64> {
    %0 = snn.window_attention %q, %k, %v, %pq, %pk, %r {multiplier = 100 : i64, shift = 4 : i64, frac_bits = 12 : i64, window = 0 : i64, sinks = 2 : i64, factor_shift = 6 : i64} : (!snn.counts<1x4x6x8, 15, signed>, !snn.counts<1x2x6x8, 15, signed>, !snn.counts<1x2x6x3, 15, signed>, !snn.counts<1x4x6x5, 15>, !snn.counts<1x2x6x5, 15>, tensor<4xi64>) -> tensor<1x4x6x3xi64>
    func.return %0 : tensor<1x4x6x3xi64>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.window_attention: window must be >= 1, sinks >= 0 and factor_shift in [0, 62]

// -----
// signed features
builtin.module {
  func.func @main(%q: !snn.counts<1x4x6x8, 15, signed>, %k: !snn.counts<1x2x6x8, 15, signed>, %v: !snn.counts<1x2x6x3, 15, signed>, %pq: !snn.counts<1x4x6x5, 15, signed>, %pk: !snn.counts<1x2x6x5, 15>, %r: tensor<4xi64>) -> tensor<1x4x6x3xi64> {
    %0 = snn.window_attention %q, %k, %v, %pq, %pk, %r {multiplier = 100 : i64, shift = 4 : i64, frac_bits = 12 : i64, window = 3 : i64, sinks = 2 : i64, factor_shift = 6 : i64} : (!snn.counts<1x4x6x8, 15, signed>, !snn.counts<1x2x6x8, 15, signed>, !snn.counts<1x2x6x3, 15, signed>, !snn.counts<1x4x6x5, 15, signed>, !snn.counts<1x2x6x5, 15>, tensor<4xi64>) -> tensor<1x4x6x3xi64>
    func.return %0 : tensor<1x4x6x3xi64>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.window_attention: the feature counts are unsigned

// -----
// a key cache without sinks + window slots
builtin.module {
  func.func @main(%a0: !snn.counts<1x4x1x8, 15, signed>, %a1: !snn.counts<1x2x1x8, 15, signed>, %a2: !snn.counts<1x2x1x3, 15, signed>, %a3: !snn.counts<1x4x1x5, 15>, %a4: !snn.counts<1x2x1x5, 15>, %a5: tensor<4xi64>, %a6: tensor<1x2x3x8xi8>, %a7: tensor<1x2x5x3xi8>, %a8: tensor<1x2x5x5xi8>, %a9: tensor<1x2x5x3xi64>, %a10: tensor<1x2x5xi64>, %a11: tensor<1xi64>) -> tensor<1x4x1x3xi64> {
    %o, %k2, %v2, %p2, %s2, %z2 = snn.window_attention_step %a0, %a1, %a2, %a3, %a4, %a5, %a6, %a7, %a8, %a9, %a10, %a11 {multiplier = 100 : i64, shift = 4 : i64, frac_bits = 12 : i64, window = 3 : i64, sinks = 2 : i64, factor_shift = 6 : i64} : (!snn.counts<1x4x1x8, 15, signed>, !snn.counts<1x2x1x8, 15, signed>, !snn.counts<1x2x1x3, 15, signed>, !snn.counts<1x4x1x5, 15>, !snn.counts<1x2x1x5, 15>, tensor<4xi64>, tensor<1x2x3x8xi8>, tensor<1x2x5x3xi8>, tensor<1x2x5x5xi8>, tensor<1x2x5x3xi64>, tensor<1x2x5xi64>, tensor<1xi64>) -> (tensor<1x4x1x3xi64>, tensor<1x2x3x8xi8>, tensor<1x2x5x3xi8>, tensor<1x2x5x5xi8>, tensor<1x2x5x3xi64>, tensor<1x2x5xi64>)
    func.return %o : tensor<1x4x1x3xi64>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.window_attention_step: k_cache must be [1, 2, 5, 8], got [1, 2, 3, 8]

// -----
// key features kept per query head
builtin.module {
  func.func @main(%a0: !snn.counts<1x4x1x8, 15, signed>, %a1: !snn.counts<1x2x1x8, 15, signed>, %a2: !snn.counts<1x2x1x3, 15, signed>, %a3: !snn.counts<1x4x1x5, 15>, %a4: !snn.counts<1x2x1x5, 15>, %a5: tensor<4xi64>, %a6: tensor<1x2x5x8xi8>, %a7: tensor<1x2x5x3xi8>, %a8: tensor<1x4x5x5xi8>, %a9: tensor<1x2x5x3xi64>, %a10: tensor<1x2x5xi64>, %a11: tensor<1xi64>) -> tensor<1x4x1x3xi64> {
    %o, %k2, %v2, %p2, %s2, %z2 = snn.window_attention_step %a0, %a1, %a2, %a3, %a4, %a5, %a6, %a7, %a8, %a9, %a10, %a11 {multiplier = 100 : i64, shift = 4 : i64, frac_bits = 12 : i64, window = 3 : i64, sinks = 2 : i64, factor_shift = 6 : i64} : (!snn.counts<1x4x1x8, 15, signed>, !snn.counts<1x2x1x8, 15, signed>, !snn.counts<1x2x1x3, 15, signed>, !snn.counts<1x4x1x5, 15>, !snn.counts<1x2x1x5, 15>, tensor<4xi64>, tensor<1x2x5x8xi8>, tensor<1x2x5x3xi8>, tensor<1x4x5x5xi8>, tensor<1x2x5x3xi64>, tensor<1x2x5xi64>, tensor<1xi64>) -> (tensor<1x4x1x3xi64>, tensor<1x2x5x8xi8>, tensor<1x2x5x3xi8>, tensor<1x4x5x5xi8>, tensor<1x2x5x3xi64>, tensor<1x2x5xi64>)
    func.return %o : tensor<1x4x1x3xi64>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.window_attention_step: p_cache must be [1, 2, 5, 5], got [1, 4, 5, 5]

// -----
// far sums narrower than int64
builtin.module {
  func.func @main(%a0: !snn.counts<1x4x1x8, 15, signed>, %a1: !snn.counts<1x2x1x8, 15, signed>, %a2: !snn.counts<1x2x1x3, 15, signed>, %a3: !snn.counts<1x4x1x5, 15>, %a4: !snn.counts<1x2x1x5, 15>, %a5: tensor<4xi64>, %a6: tensor<1x2x5x8xi8>, %a7: tensor<1x2x5x3xi8>, %a8: tensor<1x2x5x5xi8>, %a9: tensor<1x2x5x3xi32>, %a10: tensor<1x2x5xi64>, %a11: tensor<1xi64>) -> tensor<1x4x1x3xi64> {
    %o, %k2, %v2, %p2, %s2, %z2 = snn.window_attention_step %a0, %a1, %a2, %a3, %a4, %a5, %a6, %a7, %a8, %a9, %a10, %a11 {multiplier = 100 : i64, shift = 4 : i64, frac_bits = 12 : i64, window = 3 : i64, sinks = 2 : i64, factor_shift = 6 : i64} : (!snn.counts<1x4x1x8, 15, signed>, !snn.counts<1x2x1x8, 15, signed>, !snn.counts<1x2x1x3, 15, signed>, !snn.counts<1x4x1x5, 15>, !snn.counts<1x2x1x5, 15>, tensor<4xi64>, tensor<1x2x5x8xi8>, tensor<1x2x5x3xi8>, tensor<1x2x5x5xi8>, tensor<1x2x5x3xi32>, tensor<1x2x5xi64>, tensor<1xi64>) -> (tensor<1x4x1x3xi64>, tensor<1x2x5x8xi8>, tensor<1x2x5x3xi8>, tensor<1x2x5x5xi8>, tensor<1x2x5x3xi32>, tensor<1x2x5xi64>)
    func.return %o : tensor<1x4x1x3xi64>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.window_attention_step: state and norm are int64
