// RUN: awk -v k=1 '/^\/\/ -----/{i++} i==k' %s | not nscc opt - 2>&1 | filecheck %s --check-prefix=CHECK1

// Invalid IR for snn.fixed_gelu, one case per `// -----` section, each with the verifier's message.

// -----
// frac_bits
builtin.module {
  func.func @main(%x: tensor<2x3xi32>) -> tensor<2x3xi32> {
    %0 = snn.fixed_gelu %x {frac_bits = -1 : i64} : (tensor<2x3xi32>) -> tensor<2x3xi32>
    func.return %0 : tensor<2x3xi32>
  }
}
// CHECK1: nscc: error: <stdin>: IR does not verify: snn.fixed_gelu: frac_bits must be in [0, 30]
