// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for nn.window_attention, one case per `// -----` section, each with the verifier's message.

// -----
// window
builtin.module {
  func.func @main(%q: tensor<1x2x3x4xf32>, %f: tensor<1x2x3x8xf32>, %r: tensor<2xf32>) -> tensor<1x2x3x4xf32> {
    %0 = nn.window_attention %q, %q, %q, %f, %f, %r {scale = 5.000000e-01 : f64, window = 0 : i64, sinks = 0 : i64} : (tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>, tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>, tensor<2xf32>) -> tensor<1x2x3x4xf32>
    func.return %0 : tensor<1x2x3x4xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.window_attention: window must be >= 1 and sinks >= 0

// -----
// features that do not follow q
builtin.module {
  func.func @main(%q: tensor<1x2x3x4xf32>, %f: tensor<1x2x2x8xf32>, %r: tensor<2xf32>) -> tensor<1x2x3x4xf32> {
    %0 = nn.window_attention %q, %q, %q, %f, %f, %r {scale = 5.000000e-01 : f64, window = 2 : i64, sinks = 0 : i64} : (tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>, tensor<1x2x2x8xf32>, tensor<1x2x2x8xf32>, tensor<2xf32>) -> tensor<1x2x3x4xf32>
    func.return %0 : tensor<1x2x3x4xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.window_attention: features (1, 2, 2, 8), (1, 2, 2, 8) must follow q (1, 2, 3, 4) and k (1, 2, 3, 4) (pk on key-value heads)

// -----
// one factor per head
builtin.module {
  func.func @main(%q: tensor<1x2x3x4xf32>, %f: tensor<1x2x3x8xf32>, %r: tensor<3xf32>) -> tensor<1x2x3x4xf32> {
    %0 = nn.window_attention %q, %q, %q, %f, %f, %r {scale = 5.000000e-01 : f64, window = 2 : i64, sinks = 0 : i64} : (tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>, tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>, tensor<3xf32>) -> tensor<1x2x3x4xf32>
    func.return %0 : tensor<1x2x3x4xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.window_attention: factor must be [2] (one per head), got [3]

// -----
// more queries than keys
builtin.module {
  func.func @main(%q: tensor<1x2x3x4xf32>, %k: tensor<1x2x2x4xf32>, %f: tensor<1x2x3x8xf32>, %g: tensor<1x2x2x8xf32>, %r: tensor<2xf32>) -> tensor<1x2x3x4xf32> {
    %0 = nn.window_attention %q, %k, %k, %f, %g, %r {scale = 5.000000e-01 : f64, window = 2 : i64, sinks = 0 : i64} : (tensor<1x2x3x4xf32>, tensor<1x2x2x4xf32>, tensor<1x2x2x4xf32>, tensor<1x2x3x8xf32>, tensor<1x2x2x8xf32>, tensor<2xf32>) -> tensor<1x2x3x4xf32>
    func.return %0 : tensor<1x2x3x4xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.window_attention: q (1, 2, 3, 4), k (1, 2, 2, 4), v (1, 2, 2, 4) do not fit
