// RUN: nscc opt %s -p decode-step | filecheck %s

// decode-step turns causal spiking softmax attention into snn.attention_step with a
// KV cache: two new state arguments per layer, K and V, holding the 4 positions the
// program was compiled for (one byte a count at D = 15, one key-value head here for
// two query heads), written at `position` and returned as the new caches.
builtin.module {
  func.func @main(%ids: tensor<1x4xi64> {nscc.name = "ids"}) -> (tensor<1x2x4x3xi64> {nscc.name = "out"}) {
    %emb = arith.constant dense<5.000000e-01> : tensor<16x8xf32>
    %e = nn.gather %emb, %ids {axis = 0 : i64} : (tensor<16x8xf32>, tensor<1x4xi64>) -> tensor<1x4x8xf32>
    %h = nn.reshape %e : (tensor<1x4x8xf32>) -> tensor<1x4x2x4xf32>
    %q = nn.transpose %h {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x4x2x4xf32>) -> tensor<1x2x4x4xf32>
    %k = nn.slice %q {starts = array<i64: 0>, ends = array<i64: 1>, axes = array<i64: 1>, steps = array<i64: 1>} : (tensor<1x2x4x4xf32>) -> tensor<1x1x4x4xf32>
    %v = nn.slice %k {starts = array<i64: 0>, ends = array<i64: 3>, axes = array<i64: 3>, steps = array<i64: 1>} : (tensor<1x1x4x4xf32>) -> tensor<1x1x4x3xf32>
    %th = arith.constant dense<1.000000e-01> : tensor<f32>
    %qn = snn.encode %q, %th : (tensor<1x2x4x4xf32>, tensor<f32>) -> !snn.counts<1x2x4x4, 15, signed>
    %kn = snn.encode %k, %th : (tensor<1x1x4x4xf32>, tensor<f32>) -> !snn.counts<1x1x4x4, 15, signed>
    %vn = snn.encode %v, %th : (tensor<1x1x4x3xf32>, tensor<f32>) -> !snn.counts<1x1x4x3, 15, signed>
    %a = snn.attention %qn, %kn, %vn {multiplier = 12345678 : i64, shift = 24 : i64, frac_bits = 16 : i64, causal, nscc.layer = "attn"} : (!snn.counts<1x2x4x4, 15, signed>, !snn.counts<1x1x4x4, 15, signed>, !snn.counts<1x1x4x3, 15, signed>) -> tensor<1x2x4x3xi64>
    func.return %a : tensor<1x2x4x3xi64>
  }
}

// CHECK:      builtin.module attributes {nscc.decode_length = 4 : i64} {
// CHECK-NEXT:   func.func @main(%ids: tensor<1x1xi64> {nscc.name = "ids"}, %position: tensor<1xi64> {nscc.name = "position", nscc.position},
// CHECK-SAME:     %K: tensor<1x1x4x4xi8> {nscc.name = "attn.K", nscc.state = "attn.K"}, %V: tensor<1x1x4x3xi8> {nscc.name = "attn.V", nscc.state = "attn.V"})
// CHECK-SAME:     -> (tensor<1x2x1x3xi64> {nscc.name = "out"}, tensor<1x1x4x4xi8> {nscc.name = "attn.K", nscc.state = "attn.K"}, tensor<1x1x4x3xi8> {nscc.name = "attn.V", nscc.state = "attn.V"}) {
// CHECK:        %a, %[[K2:.*]], %[[V2:.*]] = snn.attention_step %qn, %kn, %vn, %K, %V, %position {{{.*}}multiplier = 12345678 : i64, shift = 24 : i64, frac_bits = 16 : i64{{.*}}} : (!snn.counts<1x2x1x4, 15, signed>, !snn.counts<1x1x1x4, 15, signed>, !snn.counts<1x1x1x3, 15, signed>, tensor<1x1x4x4xi8>, tensor<1x1x4x3xi8>, tensor<1xi64>) -> (tensor<1x2x1x3xi64>, tensor<1x1x4x4xi8>, tensor<1x1x4x3xi8>)
// CHECK-NEXT:   func.return %a, %[[K2]], %[[V2]]
