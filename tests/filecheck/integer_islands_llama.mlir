// RUN: nscc opt %s -p integer-islands | filecheck %s

// The Llama family's islands: RMSNorm becomes snn.fixed_rms_norm (no mean, no
// beta; over 4 values var_shift 2 and epsilon round(1e-5 * 2^28) = 2684), the
// SwiGLU gate snn.fixed_silu times the up projection with snn.fixed_mul, and
// RoPE's products with its constant cos and sin tables snn.fixed_mul by the
// tables at 16 fraction bits; rotate_half's negation is a product by -1 (it
// saturates where a plain negation of -2^31 would wrap).
builtin.module {
  func.func @main(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
    %e = snn.fixed_encode %x {frac_bits = 16 : i64} : (tensor<2x4xf32>) -> tensor<2x4xi32>
    %h = snn.fixed_decode %e {frac_bits = 16 : i64} : (tensor<2x4xi32>) -> tensor<2x4xf32>
    %gamma = arith.constant dense<[1.000000e+00, 5.000000e-01, 2.000000e+00, 1.000000e+00]> : tensor<4xf32>
    %n = nn.rms_norm %h, %gamma {axis = 1 : i64, epsilon = 1.000000e-05 : f32} : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
    %g = nn.silu %n {alpha = 1.000000e+00 : f32} : (tensor<2x4xf32>) -> tensor<2x4xf32>
    %gu = nn.mul %g, %h : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
    %cos = arith.constant dense<[[1.000000e+00, 5.000000e-01, 0.000000e+00, -5.000000e-01], [1.000000e+00, 2.500000e-01, 0.000000e+00, -2.500000e-01]]> : tensor<2x4xf32>
    %qc = nn.mul %gu, %cos : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
    %neg = nn.neg %qc : (tensor<2x4xf32>) -> tensor<2x4xf32>
    func.return %neg : tensor<2x4xf32>
  }
}
// CHECK:      %[[X:.*]] = snn.fixed_encode %x
// CHECK:      %[[G:.*]] = nn.weight "n.fixed_gamma" : tensor<4xi32>
// CHECK-NEXT: %[[N:.*]] = snn.fixed_rms_norm %[[X]], %[[G]] {frac_bits = 16 : i64, axis = 1 : i64, var_shift = 2 : i64, epsilon = 2684 : i64}
// CHECK-NEXT: %[[S:.*]] = snn.fixed_silu %[[N]] {frac_bits = 16 : i64, alpha = 1073741824 : i64}
// CHECK-NEXT: %[[GU:.*]] = snn.fixed_mul %[[S]], %[[X]] {frac_bits = 16 : i64}
// CHECK-NEXT: %[[COS:.*]] = nn.weight "{{.*}}fixed_const" : tensor<2x4xi32>
// CHECK-NEXT: %[[QC:.*]] = snn.fixed_mul %[[GU]], %[[COS]] {frac_bits = 16 : i64}
// CHECK-NEXT: %[[M1:.*]] = nn.weight "neg.fixed_minus_one" : tensor<1xi32>
// CHECK-NEXT: %[[NEG:.*]] = snn.fixed_mul %[[QC]], %[[M1]] {frac_bits = 16 : i64}
// CHECK-NEXT: %[[Y:.*]] = snn.fixed_decode %[[NEG]] {frac_bits = 16 : i64}
// CHECK-NEXT: func.return %[[Y]]
// CHECK-NOT:  nn.rms_norm
// CHECK-NOT:  nn.silu
