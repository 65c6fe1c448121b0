// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for nn.reshape, one case per `// -----` section, each with the verifier's message.

// -----
// element count
builtin.module {
  func.func @main(%x: tensor<2x3xf32>) -> tensor<7xf32> {
    %0 = nn.reshape %x : (tensor<2x3xf32>) -> tensor<7xf32>
    func.return %0 : tensor<7xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.reshape: element counts differ
