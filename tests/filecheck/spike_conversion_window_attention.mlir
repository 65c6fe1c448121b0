// RUN: nscc opt %s -p 'raise-attention,linear-attention{fit-steps=5 window=1 sinks=1 measure=false},spike-conversion{measure-batches=0}' 2>/dev/null | filecheck %s

// spike-conversion makes a sliding-window hybrid (nn.window_attention, from
// linear-attention{window}) spiking: q, k and v are encoded as softmax attention's
// (thresholds per feature), each fitted feature map becomes snn.feature_map on its
// own encoding of q or k, the fitted factor per head becomes an int64 multiplier in
// units of the softmax part's exp, and snn.window_attention's int64 result is decoded
// by v's thresholds times 2^-16, as snn.attention's.
builtin.module {
  func.func @main(%q: tensor<1x2x3x4xf32>, %kt: tensor<1x2x4x3xf32>, %v: tensor<1x2x3x4xf32>) -> tensor<1x2x3x4xf32> {
    %s = nn.matmul %q, %kt : (tensor<1x2x3x4xf32>, tensor<1x2x4x3xf32>) -> tensor<1x2x3x3xf32>
    %c = arith.constant dense<2.000000e+00> : tensor<f32>
    %d = nn.div %s, %c : (tensor<1x2x3x3xf32>, tensor<f32>) -> tensor<1x2x3x3xf32>
    %m = arith.constant dense<[[0.000000e+00, -1.000000e+04, -1.000000e+04], [0.000000e+00, 0.000000e+00, -1.000000e+04], [0.000000e+00, 0.000000e+00, 0.000000e+00]]> : tensor<3x3xf32>
    %a = nn.add %d, %m : (tensor<1x2x3x3xf32>, tensor<3x3xf32>) -> tensor<1x2x3x3xf32>
    %p = nn.softmax %a {axis = 3 : i64} : (tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
    %o = nn.matmul %p, %v {nscc.layer = "dec.attn"} : (tensor<1x2x3x3xf32>, tensor<1x2x3x4xf32>) -> tensor<1x2x3x4xf32>
    func.return %o : tensor<1x2x3x4xf32>
  }
}

// CHECK:      %[[QT:.*]] = nn.weight "dec.attn.q_theta" : tensor<4xf32>
// CHECK-NEXT: %[[QN:.*]] = snn.encode %q, %[[QT]] : (tensor<1x2x3x4xf32>, tensor<4xf32>) -> !snn.counts<1x2x3x4, 31, signed>
// CHECK:      %[[VN:.*]] = snn.encode %v, %{{.*}} : (tensor<1x2x3x4xf32>, tensor<4xf32>) -> !snn.counts<1x2x3x4, 31, signed>
// CHECK:      %[[PQ:.*]] = snn.feature_map %{{.*}}, %{{.*}}, %{{.*}} {{{.*}}} : (!snn.counts<1x2x3x4, 31, signed>, tensor<2x4x4xi8>, tensor<2xi64>) -> !snn.counts<1x2x3x8, 31>
// CHECK:      %[[PK:.*]] = snn.feature_map
// CHECK-NEXT: %[[R:.*]] = nn.weight "dec.attn.window_factor.multiplier" : tensor<2xi64>
// CHECK-NEXT: %[[A:.*]] = snn.window_attention %[[QN]], %{{.*}}, %[[VN]], %[[PQ]], %[[PK]], %[[R]] {{{.*}}multiplier = {{[0-9]+}} : i64, shift = {{[0-9]+}} : i64, frac_bits = 16 : i64, window = 1 : i64, sinks = 1 : i64, factor_shift = {{[0-9]+}} : i64} : ({{.*}}) -> tensor<1x2x3x4xi64>
// CHECK-NEXT: %[[SC:.*]] = nn.weight "dec.attn.scale" : tensor<4xf32>
// CHECK-NEXT: %{{.*}} = snn.decode %[[A]], %[[SC]] {axis = 3 : i64} : (tensor<1x2x3x4xi64>, tensor<4xf32>) -> tensor<1x2x3x4xf32>
// CHECK-NOT:  nn.window_attention
// CHECK-NOT:  nn.feature_map
