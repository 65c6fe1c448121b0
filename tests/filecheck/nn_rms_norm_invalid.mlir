// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for nn.rms_norm, one case per `// -----` section, each with the verifier's message.

// -----
// scale shape
builtin.module {
  func.func @main(%x: tensor<2x3xf32>, %s: tensor<4xf32>) -> tensor<2x3xf32> {
    %0 = nn.rms_norm %x, %s {axis = -1 : i64, epsilon = 1.000000e-05 : f64} : (tensor<2x3xf32>, tensor<4xf32>) -> tensor<2x3xf32>
    func.return %0 : tensor<2x3xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.rms_norm: scale and bias must broadcast to the input shape (2, 3), got (4,)
