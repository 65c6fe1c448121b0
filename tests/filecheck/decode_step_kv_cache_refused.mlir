// RUN: not nscc opt %s -p decode-step 2>&1 | filecheck %s

// Attention that sees later positions cannot be decoded token by token.
builtin.module {
  func.func @main(%ids: tensor<1x4xi64> {nscc.name = "ids"}) -> (tensor<1x1x4x4xi64> {nscc.name = "out"}) {
    %emb = arith.constant dense<5.000000e-01> : tensor<16x4xf32>
    %e = nn.gather %emb, %ids {axis = 0 : i64} : (tensor<16x4xf32>, tensor<1x4xi64>) -> tensor<1x4x4xf32>
    %q = nn.reshape %e : (tensor<1x4x4xf32>) -> tensor<1x1x4x4xf32>
    %th = arith.constant dense<1.000000e-01> : tensor<f32>
    %qn = snn.encode %q, %th : (tensor<1x1x4x4xf32>, tensor<f32>) -> !snn.counts<1x1x4x4, 15, signed>
    %a = snn.attention %qn, %qn, %qn {multiplier = 12345678 : i64, shift = 24 : i64, frac_bits = 16 : i64} : (!snn.counts<1x1x4x4, 15, signed>, !snn.counts<1x1x4x4, 15, signed>, !snn.counts<1x1x4x4, 15, signed>) -> tensor<1x1x4x4xi64>
    func.return %a : tensor<1x1x4x4xi64>
  }
}
// CHECK: nscc: error: decoding: snn.attention with a mask or without causality sees later positions (hint: decoding needs causal attention without a mask)
