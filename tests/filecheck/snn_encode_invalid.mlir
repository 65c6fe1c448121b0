// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for snn.encode, one case per `// -----` section, each with the verifier's message.

// -----
// result shape
builtin.module {
  func.func @main(%x: tensor<2x3xf32>, %t: tensor<f32>) -> !snn.counts<2x4, 15> {
    %0 = snn.encode %x, %t : (tensor<2x3xf32>, tensor<f32>) -> !snn.counts<2x4, 15>
    func.return %0 : !snn.counts<2x4, 15>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.encode: result shape must equal input shape

// -----
// a lowered top only below the levels, and only for signed counts
builtin.module {
  func.func @main(%x: tensor<2x3xf32>, %t: tensor<f32>) -> !snn.counts<2x3, 7, max 6> {
    %0 = snn.encode %x, %t : (tensor<2x3xf32>, tensor<f32>) -> !snn.counts<2x3, 7, max 6>
    func.return %0 : !snn.counts<2x3, 7, max 6>
  }
}
// CHECK: nscc: error: {{.*}}: snn.counts: max must be below the levels, and only signed counts have one
