// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for nn.gemm, one case per `// -----` section, each with the verifier's message.

// -----
// ranks
builtin.module {
  func.func @main(%a: tensor<2x3x1xf32>, %b: tensor<3x4xf32>) -> tensor<2x4xf32> {
    %0 = nn.gemm %a, %b {alpha = 1.000000e+00 : f64, beta = 1.000000e+00 : f64} : (tensor<2x3x1xf32>, tensor<3x4xf32>) -> tensor<2x4xf32>
    func.return %0 : tensor<2x4xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.gemm: A (2, 3, 1) and B (3, 4) must be matrices

// -----
// contraction
builtin.module {
  func.func @main(%a: tensor<2x3xf32>, %b: tensor<4x5xf32>) -> tensor<2x5xf32> {
    %0 = nn.gemm %a, %b {alpha = 1.000000e+00 : f64, beta = 1.000000e+00 : f64} : (tensor<2x3xf32>, tensor<4x5xf32>) -> tensor<2x5xf32>
    func.return %0 : tensor<2x5xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.gemm: contraction sizes differ (3 and 4)

// -----
// result shape with trans_b
builtin.module {
  func.func @main(%a: tensor<2x3xf32>, %b: tensor<4x3xf32>) -> tensor<2x3xf32> {
    %0 = nn.gemm %a, %b {alpha = 1.000000e+00 : f64, beta = 1.000000e+00 : f64, trans_b} : (tensor<2x3xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
    func.return %0 : tensor<2x3xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.gemm: result shape must be (2, 4)

// -----
// C
builtin.module {
  func.func @main(%a: tensor<2x3xf32>, %b: tensor<3x4xf32>, %c: tensor<3xf32>) -> tensor<2x4xf32> {
    %0 = nn.gemm %a, %b, %c {alpha = 1.000000e+00 : f64, beta = 1.000000e+00 : f64} : (tensor<2x3xf32>, tensor<3x4xf32>, tensor<3xf32>) -> tensor<2x4xf32>
    func.return %0 : tensor<2x4xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.gemm: C (3,) does not broadcast to (2, 4)
