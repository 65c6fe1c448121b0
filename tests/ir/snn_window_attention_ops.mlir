// Spiking sliding-window attention (snn.window_attention) over a whole sequence, grouped-query
// (4 query heads on 2 key-value heads), window 3 and 2 sinks over 7 positions, and its decoding
// step (snn.window_attention_step) on caches of sinks + window slots and the far sums S, z, all
// per key-value head (the key features too).
// Parsed, printed, re-parsed and interpreted by tests/test_snn_semantics.py against a reference
// written from docs/semantics.md, the steps token by token against the whole sequence.
builtin.module {
  func.func @main(%q: tensor<1x4x7x8xf32>, %k: tensor<1x2x7x8xf32>, %v: tensor<1x2x7x3xf32>, %pq: tensor<1x4x7x5xf32>, %pk: tensor<1x2x7x5xf32>,
                  %q1: tensor<1x4x1x8xf32>, %k1: tensor<1x2x1x8xf32>, %v1: tensor<1x2x1x3xf32>, %pq1: tensor<1x4x1x5xf32>, %pk1: tensor<1x2x1x5xf32>,
                  %kc: tensor<1x2x5x8xi8>, %vc: tensor<1x2x5x3xi8>, %pc: tensor<1x2x5x5xi8>, %s: tensor<1x2x5x3xi64>, %z: tensor<1x2x5xi64>, %pos: tensor<1xi64>)
      -> (tensor<1x4x7x3xi64>, tensor<1x4x1x3xi64>, tensor<1x2x5x8xi8>, tensor<1x2x5x3xi8>, tensor<1x2x5x5xi8>, tensor<1x2x5x3xi64>, tensor<1x2x5xi64>) {
    %t = nn.weight "one" : tensor<f32>
    %r = nn.weight "factor" : tensor<4xi64>
    %qn = snn.encode %q, %t : (tensor<1x4x7x8xf32>, tensor<f32>) -> !snn.counts<1x4x7x8, 15, signed>
    %kn = snn.encode %k, %t : (tensor<1x2x7x8xf32>, tensor<f32>) -> !snn.counts<1x2x7x8, 15, signed>
    %vn = snn.encode %v, %t : (tensor<1x2x7x3xf32>, tensor<f32>) -> !snn.counts<1x2x7x3, 15, signed>
    %pqn = snn.encode %pq, %t : (tensor<1x4x7x5xf32>, tensor<f32>) -> !snn.counts<1x4x7x5, 15>
    %pkn = snn.encode %pk, %t : (tensor<1x2x7x5xf32>, tensor<f32>) -> !snn.counts<1x2x7x5, 15>
    %a = snn.window_attention %qn, %kn, %vn, %pqn, %pkn, %r {multiplier = 12345678 : i64, shift = 20 : i64, frac_bits = 12 : i64, window = 3 : i64, sinks = 2 : i64, factor_shift = 6 : i64} : (!snn.counts<1x4x7x8, 15, signed>, !snn.counts<1x2x7x8, 15, signed>, !snn.counts<1x2x7x3, 15, signed>, !snn.counts<1x4x7x5, 15>, !snn.counts<1x2x7x5, 15>, tensor<4xi64>) -> tensor<1x4x7x3xi64>
    %q1n = snn.encode %q1, %t : (tensor<1x4x1x8xf32>, tensor<f32>) -> !snn.counts<1x4x1x8, 15, signed>
    %k1n = snn.encode %k1, %t : (tensor<1x2x1x8xf32>, tensor<f32>) -> !snn.counts<1x2x1x8, 15, signed>
    %v1n = snn.encode %v1, %t : (tensor<1x2x1x3xf32>, tensor<f32>) -> !snn.counts<1x2x1x3, 15, signed>
    %pq1n = snn.encode %pq1, %t : (tensor<1x4x1x5xf32>, tensor<f32>) -> !snn.counts<1x4x1x5, 15>
    %pk1n = snn.encode %pk1, %t : (tensor<1x2x1x5xf32>, tensor<f32>) -> !snn.counts<1x2x1x5, 15>
    %o, %kc2, %vc2, %pc2, %s2, %z2 = snn.window_attention_step %q1n, %k1n, %v1n, %pq1n, %pk1n, %r, %kc, %vc, %pc, %s, %z, %pos {multiplier = 12345678 : i64, shift = 20 : i64, frac_bits = 12 : i64, window = 3 : i64, sinks = 2 : i64, factor_shift = 6 : i64} : (!snn.counts<1x4x1x8, 15, signed>, !snn.counts<1x2x1x8, 15, signed>, !snn.counts<1x2x1x3, 15, signed>, !snn.counts<1x4x1x5, 15>, !snn.counts<1x2x1x5, 15>, tensor<4xi64>, tensor<1x2x5x8xi8>, tensor<1x2x5x3xi8>, tensor<1x2x5x5xi8>, tensor<1x2x5x3xi64>, tensor<1x2x5xi64>, tensor<1xi64>) -> (tensor<1x4x1x3xi64>, tensor<1x2x5x8xi8>, tensor<1x2x5x3xi8>, tensor<1x2x5x5xi8>, tensor<1x2x5x3xi64>, tensor<1x2x5xi64>)
    func.return %a, %o, %kc2, %vc2, %pc2, %s2, %z2 : tensor<1x4x7x3xi64>, tensor<1x4x1x3xi64>, tensor<1x2x5x8xi8>, tensor<1x2x5x3xi8>, tensor<1x2x5x5xi8>, tensor<1x2x5x3xi64>, tensor<1x2x5xi64>
  }
}
