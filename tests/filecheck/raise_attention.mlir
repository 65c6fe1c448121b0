// RUN: nscc opt %s -p raise-attention 2>&1 | filecheck %s

// A causal block as the legacy exporter writes it (additive -inf above the
// diagonal, scores divided by sqrt(d)), and a softmax that is not attention.
builtin.module {
  func.func @main(%q: tensor<1x2x3x4xf32>, %kt: tensor<1x2x4x3xf32>, %v: tensor<1x2x3x4xf32>, %logits: tensor<2x5xf32>) -> (tensor<1x2x3x4xf32>, tensor<2x5xf32>) {
    %s = nn.matmul %q, %kt : (tensor<1x2x3x4xf32>, tensor<1x2x4x3xf32>) -> tensor<1x2x3x3xf32>
    %c = arith.constant dense<2.000000e+00> : tensor<f32>
    %d = nn.div %s, %c : (tensor<1x2x3x3xf32>, tensor<f32>) -> tensor<1x2x3x3xf32>
    %m = arith.constant dense<[[0.000000e+00, -1.000000e+04, -1.000000e+04], [0.000000e+00, 0.000000e+00, -1.000000e+04], [0.000000e+00, 0.000000e+00, 0.000000e+00]]> : tensor<3x3xf32>
    %a = nn.add %d, %m : (tensor<1x2x3x3xf32>, tensor<3x3xf32>) -> tensor<1x2x3x3xf32>
    %p = nn.softmax %a {axis = 3 : i64} : (tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
    %o = nn.matmul %p, %v : (tensor<1x2x3x3xf32>, tensor<1x2x3x4xf32>) -> tensor<1x2x3x4xf32>
    %cls = nn.softmax %logits {axis = 1 : i64, nscc.layer = "classifier"} : (tensor<2x5xf32>) -> tensor<2x5xf32>
    func.return %o, %cls : tensor<1x2x3x4xf32>, tensor<2x5xf32>
  }
}

// CHECK: nscc: note: raise-attention left a softmax in 'classifier': its result is not only multiplied by values
// CHECK:      %[[K:.*]] = nn.transpose %kt {perm = array<i64: 0, 1, 3, 2>} : (tensor<1x2x4x3xf32>) -> tensor<1x2x3x4xf32>
// CHECK-NEXT: %{{.*}} = nn.attention %q, %[[K]], %v {scale = 5.000000e-01 : f64, causal} : (tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>) -> tensor<1x2x3x4xf32>
// CHECK-NOT:  nn.matmul
