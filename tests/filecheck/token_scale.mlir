// RUN: nscc opt %s -p token-scale | filecheck %s
// RUN: nscc opt %s -p 'token-scale{layers="*down_proj"}' | filecheck %s --check-prefix=ONLY
// RUN: nscc opt %s -p 'token-scale,integer-islands' | filecheck %s --check-prefix=FIXED

// token-scale divides each token's input to a linear layer by its largest magnitude (plus
// 2^-16, so never by 0) and multiplies the layer's output back: the same function, and every
// token spans [-1, 1] for the static spike thresholds. Two layers reading one input share
// one scale; an input a trained quantizer produced keeps its counts; `layers` chooses.
// integer-islands makes the maximum an integer abs and reduction, the quotient
// snn.fixed_div and the product snn.fixed_mul.
builtin.module {
  func.func @main(%in: tensor<2x3x4xf32>) -> (tensor<2x3x2xf32>, tensor<2x3x2xf32>, tensor<2x3x2xf32>) {
    %e = snn.fixed_encode %in {frac_bits = 16 : i64} : (tensor<2x3x4xf32>) -> tensor<2x3x4xi32>
    %x = snn.fixed_decode %e {frac_bits = 16 : i64} : (tensor<2x3x4xi32>) -> tensor<2x3x4xf32>
    %w = arith.constant dense<5.000000e-01> : tensor<4x2xf32>
    %y = nn.matmul %x, %w {nscc.layer = "mlp.down_proj"} : (tensor<2x3x4xf32>, tensor<4x2xf32>) -> tensor<2x3x2xf32>
    %z = nn.matmul %x, %w {nscc.layer = "layer.0.attention.output.dense"} : (tensor<2x3x4xf32>, tensor<4x2xf32>) -> tensor<2x3x2xf32>
    %t = arith.constant dense<2.500000e-01> : tensor<f32>
    %d = nn.div %x, %t : (tensor<2x3x4xf32>, tensor<f32>) -> tensor<2x3x4xf32>
    %c = nn.clip %d {min = 0.000000e+00 : f32, max = 1.500000e+01 : f32} : (tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
    %r = nn.round %c : (tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
    %q = nn.mul %r, %t : (tensor<2x3x4xf32>, tensor<f32>) -> tensor<2x3x4xf32>
    %v = nn.matmul %q, %w {nscc.layer = "trained.fc"} : (tensor<2x3x4xf32>, tensor<4x2xf32>) -> tensor<2x3x2xf32>
    func.return %y, %z, %v : tensor<2x3x2xf32>, tensor<2x3x2xf32>, tensor<2x3x2xf32>
  }
}
// CHECK:      %magnitude = nn.abs %x : (tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
// CHECK-NEXT: %[[P:.*]] = nn.reduce_max %magnitude {axes = array<i64: 2>, keepdims} : (tensor<2x3x4xf32>) -> tensor<2x3x1xf32>
// CHECK-NEXT: %[[E:.*]] = nn.weight "mlp.down_proj.token_eps" : tensor<f32>
// CHECK-NEXT: %token_scale = nn.add %[[P]], %[[E]]
// CHECK-NEXT: %scaled = nn.div %x, %token_scale : (tensor<2x3x4xf32>, tensor<2x3x1xf32>) -> tensor<2x3x4xf32>
// CHECK-NEXT: %scaled_out = nn.matmul %scaled, %w {nscc.layer = "mlp.down_proj"}
// CHECK-NEXT: %y = nn.mul %scaled_out, %token_scale : (tensor<2x3x2xf32>, tensor<2x3x1xf32>) -> tensor<2x3x2xf32>
// CHECK-NEXT: %[[S:.*]] = nn.matmul %scaled, %w {nscc.layer = "layer.0.attention.output.dense"}
// CHECK-NEXT: %z = nn.mul %[[S]], %token_scale
// CHECK-NOT:  nn.abs
// CHECK:      %v = nn.matmul %q, %w {nscc.layer = "trained.fc"}

// ONLY:      %scaled_out = nn.matmul %scaled, %w {nscc.layer = "mlp.down_proj"}
// ONLY:      %z = nn.matmul %x, %w {nscc.layer = "layer.0.attention.output.dense"}

// FIXED:      %[[X:.*]] = snn.fixed_encode %in {frac_bits = 16 : i64}
// FIXED:      %[[A:.*]] = nn.abs %[[X]] : (tensor<2x3x4xi32>) -> tensor<2x3x4xi32>
// FIXED-NEXT: %[[P:.*]] = nn.reduce_max %[[A]] {axes = array<i64: 2>, keepdims} : (tensor<2x3x4xi32>) -> tensor<2x3x1xi32>
// FIXED:      %[[M:.*]] = snn.fixed_add %[[P]], %{{.*}} : (tensor<2x3x1xi32>, tensor<i32>) -> tensor<2x3x1xi32>
// FIXED-NEXT: %{{.*}} = snn.fixed_div %[[X]], %[[M]] {frac_bits = 16 : i64} : (tensor<2x3x4xi32>, tensor<2x3x1xi32>) -> tensor<2x3x4xi32>
// FIXED:      snn.fixed_mul %{{.*}}, %[[M]] {frac_bits = 16 : i64}
