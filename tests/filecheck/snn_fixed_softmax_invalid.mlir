// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for snn.fixed_softmax, one case per `// -----` section, each with the verifier's message.

// -----
// axis
builtin.module {
  func.func @main(%x: tensor<2x3xi32>) -> tensor<2x3xi32> {
    %0 = snn.fixed_softmax %x {axis = 2 : i64, frac_bits = 8 : i64} : (tensor<2x3xi32>) -> tensor<2x3xi32>
    func.return %0 : tensor<2x3xi32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.fixed_softmax: axis 2 is out of range for rank 2
