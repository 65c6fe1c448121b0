// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for snn.fixed_gelu, one case per `// -----` section, each with the verifier's message.

// -----
// frac_bits
builtin.module {
  func.func @main(%x: tensor<2x3xi32>) -> tensor<2x3xi32> {
    %0 = snn.fixed_gelu %x {frac_bits = -1 : i64} : (tensor<2x3xi32>) -> tensor<2x3xi32>
    func.return %0 : tensor<2x3xi32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.fixed_gelu: frac_bits must be in [0, 30]
