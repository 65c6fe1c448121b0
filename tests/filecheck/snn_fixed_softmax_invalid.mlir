// RUN: awk -v k=1 '/^\/\/ -----/{i++} i==k' %s | not nscc opt - 2>&1 | filecheck %s --check-prefix=CHECK1

// Invalid IR for snn.fixed_softmax, one case per `// -----` section, each with the verifier's message.

// -----
// axis
builtin.module {
  func.func @main(%x: tensor<2x3xi32>) -> tensor<2x3xi32> {
    %0 = snn.fixed_softmax %x {axis = 2 : i64, frac_bits = 8 : i64} : (tensor<2x3xi32>) -> tensor<2x3xi32>
    func.return %0 : tensor<2x3xi32>
  }
}
// CHECK1: nscc: error: <stdin>: IR does not verify: snn.fixed_softmax: axis 2 is out of range for rank 2
