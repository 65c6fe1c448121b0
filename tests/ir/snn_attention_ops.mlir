// Spiking softmax attention once each: grouped-query (4 query heads on 2 key-value
// heads), causal, with an additive mask, and one decoding step on a KV cache.
// Parsed, printed, re-parsed and interpreted by tests/test_snn_semantics.py against
// a reference written from docs/semantics.md.
builtin.module {
  func.func @main(%q: tensor<1x4x5x8xi8>, %k: tensor<1x2x5x8xi8>, %v: tensor<1x2x5x3xi8>, %mask: tensor<1x1x5x5xi32>, %kc: tensor<1x2x6x8xi8>, %vc: tensor<1x2x6x3xi8>, %pos: tensor<1xi64>) -> (tensor<1x4x5x3xi64>, tensor<1x4x5x3xi64>, tensor<1x4x1x3xi64>, tensor<1x2x6x8xi8>, tensor<1x2x6x3xi8>) {
    %t = nn.weight "one" : tensor<f32>
    %qf = nn.cast %q : (tensor<1x4x5x8xi8>) -> tensor<1x4x5x8xf32>
    %kf = nn.cast %k : (tensor<1x2x5x8xi8>) -> tensor<1x2x5x8xf32>
    %vf = nn.cast %v : (tensor<1x2x5x3xi8>) -> tensor<1x2x5x3xf32>
    %qn = snn.encode %qf, %t : (tensor<1x4x5x8xf32>, tensor<f32>) -> !snn.counts<1x4x5x8, 15, signed>
    %kn = snn.encode %kf, %t : (tensor<1x2x5x8xf32>, tensor<f32>) -> !snn.counts<1x2x5x8, 15, signed>
    %vn = snn.encode %vf, %t : (tensor<1x2x5x3xf32>, tensor<f32>) -> !snn.counts<1x2x5x3, 15, signed>
    %a = snn.attention %qn, %kn, %vn {multiplier = 12345678 : i64, shift = 20 : i64, frac_bits = 12 : i64, causal} : (!snn.counts<1x4x5x8, 15, signed>, !snn.counts<1x2x5x8, 15, signed>, !snn.counts<1x2x5x3, 15, signed>) -> tensor<1x4x5x3xi64>
    %b = snn.attention %qn, %kn, %vn, %mask {multiplier = 12345678 : i64, shift = 20 : i64, frac_bits = 12 : i64} : (!snn.counts<1x4x5x8, 15, signed>, !snn.counts<1x2x5x8, 15, signed>, !snn.counts<1x2x5x3, 15, signed>, tensor<1x1x5x5xi32>) -> tensor<1x4x5x3xi64>
    %q1 = nn.slice %qf {starts = array<i64: 2>, ends = array<i64: 3>, axes = array<i64: 2>, steps = array<i64: 1>} : (tensor<1x4x5x8xf32>) -> tensor<1x4x1x8xf32>
    %k1 = nn.slice %kf {starts = array<i64: 2>, ends = array<i64: 3>, axes = array<i64: 2>, steps = array<i64: 1>} : (tensor<1x2x5x8xf32>) -> tensor<1x2x1x8xf32>
    %v1 = nn.slice %vf {starts = array<i64: 2>, ends = array<i64: 3>, axes = array<i64: 2>, steps = array<i64: 1>} : (tensor<1x2x5x3xf32>) -> tensor<1x2x1x3xf32>
    %q1n = snn.encode %q1, %t : (tensor<1x4x1x8xf32>, tensor<f32>) -> !snn.counts<1x4x1x8, 15, signed>
    %k1n = snn.encode %k1, %t : (tensor<1x2x1x8xf32>, tensor<f32>) -> !snn.counts<1x2x1x8, 15, signed>
    %v1n = snn.encode %v1, %t : (tensor<1x2x1x3xf32>, tensor<f32>) -> !snn.counts<1x2x1x3, 15, signed>
    %o, %kc2, %vc2 = snn.attention_step %q1n, %k1n, %v1n, %kc, %vc, %pos {multiplier = 12345678 : i64, shift = 20 : i64, frac_bits = 12 : i64} : (!snn.counts<1x4x1x8, 15, signed>, !snn.counts<1x2x1x8, 15, signed>, !snn.counts<1x2x1x3, 15, signed>, tensor<1x2x6x8xi8>, tensor<1x2x6x3xi8>, tensor<1xi64>) -> (tensor<1x4x1x3xi64>, tensor<1x2x6x8xi8>, tensor<1x2x6x3xi8>)
    func.return %a, %b, %o, %kc2, %vc2 : tensor<1x4x5x3xi64>, tensor<1x4x5x3xi64>, tensor<1x4x1x3xi64>, tensor<1x2x6x8xi8>, tensor<1x2x6x3xi8>
  }
}
