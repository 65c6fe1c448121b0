// RUN: awk -v k=1 '/^\/\/ -----/{i++} i==k' %s | not nscc opt - 2>&1 | filecheck %s --check-prefix=CHECK1

// Invalid IR for nn.reshape, one case per `// -----` section, each with the verifier's message.

// -----
// element count
builtin.module {
  func.func @main(%x: tensor<2x3xf32>) -> tensor<7xf32> {
    %0 = nn.reshape %x : (tensor<2x3xf32>) -> tensor<7xf32>
    func.return %0 : tensor<7xf32>
  }
}
// CHECK1: nscc: error: <stdin>: IR does not verify: nn.reshape: element counts differ
