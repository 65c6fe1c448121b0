// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for nn.softmax, one case per `// -----` section, each with the verifier's message.

// -----
// axis
builtin.module {
  func.func @main(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
    %0 = nn.softmax %x {axis = 2 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf32>
    func.return %0 : tensor<2x3xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.softmax: axis 2 is out of range for rank 2
