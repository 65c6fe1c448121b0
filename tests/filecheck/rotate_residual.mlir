// RUN: nscc opt %s --split-input-file -p rotate-residual 2>&1 | filecheck %s
// RUN: nscc opt %s --split-input-file -p 'rotate-residual{kind=random seed=3}' 2>/dev/null | filecheck %s --check-prefix=RANDOM
// RUN: nscc opt %s --split-input-file -p rotate-residual 2>&1 | filecheck %s --check-prefix=LEFT

// A pre-norm block as torch exports a Llama: an embedding lookup starts the
// residual stream, RMSNorm is spelled out (x * 1/sqrt(mean(x^2) + eps), then
// gamma), a linear layer reads it and a second one writes back into it. The
// stream is rotated: the lookup reads a new (rotated) table, gamma's multiply
// is gone (folded into the reader's weight together with Q^T), the writer gets
// a new weight (W Q), and the statistic's ops are untouched.
builtin.module {
  func.func @main(%ids: tensor<1x3xi64>) -> tensor<1x3x4xf32> {
    %table = arith.constant dense<[[1.0, 0.0, 0.0, 9.0], [0.5, -1.0, 2.0, 0.0], [0.0, 0.25, -0.5, 1.0], [2.0, 1.0, 0.0, -8.0]]> : tensor<4x4xf32>
    %h = nn.gather %table, %ids {axis = 0 : i64} : (tensor<4x4xf32>, tensor<1x3xi64>) -> tensor<1x3x4xf32>
    %two = arith.constant dense<2.000000e+00> : tensor<f32>
    %sq = nn.pow %h, %two : (tensor<1x3x4xf32>, tensor<f32>) -> tensor<1x3x4xf32>
    %ms = nn.reduce_mean %sq {axes = array<i64: 2>, keepdims} : (tensor<1x3x4xf32>) -> tensor<1x3x1xf32>
    %eps = arith.constant dense<1.000000e-05> : tensor<f32>
    %v = nn.add %ms, %eps : (tensor<1x3x1xf32>, tensor<f32>) -> tensor<1x3x1xf32>
    %s = nn.sqrt %v : (tensor<1x3x1xf32>) -> tensor<1x3x1xf32>
    %r = nn.reciprocal %s : (tensor<1x3x1xf32>) -> tensor<1x3x1xf32>
    %n = nn.mul %h, %r : (tensor<1x3x4xf32>, tensor<1x3x1xf32>) -> tensor<1x3x4xf32>
    %g = arith.constant dense<[1.0, 2.0, 0.5, 1.5]> : tensor<4xf32>
    %y = nn.mul %g, %n : (tensor<4xf32>, tensor<1x3x4xf32>) -> tensor<1x3x4xf32>
    %w1 = arith.constant dense<[[0.5, -0.25], [0.125, 1.0], [-0.5, 0.75], [0.25, -1.0]]> : tensor<4x2xf32>
    %a = nn.matmul %y, %w1 {nscc.layer = "up"} : (tensor<1x3x4xf32>, tensor<4x2xf32>) -> tensor<1x3x2xf32>
    %w2 = arith.constant dense<[[0.5, -0.5, 0.25, 1.0], [0.75, -0.25, -0.125, 0.5]]> : tensor<2x4xf32>
    %b = nn.matmul %a, %w2 {nscc.layer = "down"} : (tensor<1x3x2xf32>, tensor<2x4xf32>) -> tensor<1x3x4xf32>
    %h2 = nn.add %h, %b : (tensor<1x3x4xf32>, tensor<1x3x4xf32>) -> tensor<1x3x4xf32>
    %sq2 = nn.pow %h2, %two : (tensor<1x3x4xf32>, tensor<f32>) -> tensor<1x3x4xf32>
    %ms2 = nn.reduce_mean %sq2 {axes = array<i64: 2>, keepdims} : (tensor<1x3x4xf32>) -> tensor<1x3x1xf32>
    %v2 = nn.add %ms2, %eps : (tensor<1x3x1xf32>, tensor<f32>) -> tensor<1x3x1xf32>
    %s2 = nn.sqrt %v2 : (tensor<1x3x1xf32>) -> tensor<1x3x1xf32>
    %r2 = nn.reciprocal %s2 : (tensor<1x3x1xf32>) -> tensor<1x3x1xf32>
    %n2 = nn.mul %h2, %r2 : (tensor<1x3x4xf32>, tensor<1x3x1xf32>) -> tensor<1x3x4xf32>
    %w3 = arith.constant dense<[[1.0, 0.0, 0.0, 0.5], [0.0, 1.0, 0.5, 0.0], [0.0, 0.25, 1.0, 0.0], [0.5, 0.0, 0.0, 1.0]]> : tensor<4x4xf32>
    %o = nn.matmul %n2, %w3 {nscc.layer = "head"} : (tensor<1x3x4xf32>, tensor<4x4xf32>) -> tensor<1x3x4xf32>
    func.return %o : tensor<1x3x4xf32>
  }
}

// CHECK:      nscc: note: rotate-residual: rotated a residual stream of width 4 (1 writers, 2 normalisations)
// CHECK:      builtin.module attributes {nscc.rotated = 1 : i64}
// CHECK:      %[[T:.*]] = nn.weight "embedding" : tensor<4x4xf32>
// CHECK-NEXT: %[[H:.*]] = nn.gather %[[T]], %ids {axis = 0 : i64}
// CHECK:      %[[SQ:.*]] = nn.pow %[[H]], %{{.*}}
// CHECK-NEXT: nn.reduce_mean %[[SQ]]
// CHECK:      %[[N:.*]] = nn.mul %[[H]], %{{.*}} : (tensor<1x3x4xf32>, tensor<1x3x1xf32>)
// CHECK-NOT:  nn.mul
// CHECK:      %[[W1:.*]] = nn.weight "{{.*}}" : tensor<4x2xf32>
// CHECK-NEXT: nn.matmul %[[N]], %[[W1]] {nscc.layer = "up"}
// CHECK:      nn.weight "{{.*}}" : tensor<2x4xf32>
// CHECK-NEXT: %[[B:.*]] = nn.matmul {{.*}} {nscc.layer = "down"}
// CHECK-NEXT: %[[H2:.*]] = nn.add %[[H]], %[[B]]
// CHECK:      nn.matmul {{.*}} {nscc.layer = "head"}

// RANDOM:     nn.matmul {{.*}} {nscc.layer = "up"}

// A post-norm block: the normalised value also feeds the residual add, so gamma
// cannot be folded away and nothing is rotated; the reason is printed.
// LEFT:       rotate-residual: left a stream unrotated: the normalised stream is read by nn.add
// LEFT:       // -----
// LEFT-NOT:   nscc.rotated
// -----
builtin.module {
  func.func @main(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
    %g = arith.constant dense<[1.0, 2.0, 0.5, 1.5]> : tensor<4xf32>
    %b = arith.constant dense<[0.0, 0.5, 0.0, -0.5]> : tensor<4xf32>
    %w = arith.constant dense<[[0.5, -0.25, 0.0, 1.0], [0.125, 1.0, 0.0, 0.0], [-0.5, 0.75, 1.0, 0.0], [0.25, -1.0, 0.0, 1.0]]> : tensor<4x4xf32>
    %h = nn.matmul %x, %w {nscc.layer = "fc"} : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
    %n = nn.layer_norm %h, %g, %b {axis = -1 : i64, epsilon = 1.000000e-05 : f32} : (tensor<2x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
    %h2 = nn.matmul %n, %w {nscc.layer = "fc2"} : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
    %s = nn.add %n, %h2 : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
    %o = nn.layer_norm %s, %g, %b {axis = -1 : i64, epsilon = 1.000000e-05 : f32} : (tensor<2x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
    func.return %o : tensor<2x4xf32>
  }
}
