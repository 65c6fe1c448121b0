// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for snn.fixed_decode, one case per `// -----` section, each with the verifier's message.

// -----
// i32 input
builtin.module {
  func.func @main(%x: tensor<2x3xi16>) -> tensor<2x3xf32> {
    %0 = snn.fixed_decode %x {frac_bits = 8 : i64} : (tensor<2x3xi16>) -> tensor<2x3xf32>
    func.return %0 : tensor<2x3xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.fixed_decode: fixed-point values are i32 tensors, got tensor<2x3xi16>
