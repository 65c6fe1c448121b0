// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for nn.gelu, one case per `// -----` section, each with the verifier's message.

// -----
// approximate
builtin.module {
  func.func @main(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
    %0 = nn.gelu %x {approximate = "fast"} : (tensor<2x3xf32>) -> tensor<2x3xf32>
    func.return %0 : tensor<2x3xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.gelu: approximate must be one of none, tanh
