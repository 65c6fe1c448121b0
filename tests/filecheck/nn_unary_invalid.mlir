// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for nn.unary, one case per `// -----` section, each with the verifier's message.

// -----
// result shape
builtin.module {
  func.func @main(%x: tensor<2x3xf32>) -> tensor<3x2xf32> {
    %0 = nn.neg %x : (tensor<2x3xf32>) -> tensor<3x2xf32>
    func.return %0 : tensor<3x2xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.neg: result shape must equal input shape
