// RUN: awk -v k=1 '/^\/\/ -----/{i++} i==k' %s | not nscc opt - 2>&1 | filecheck %s --check-prefix=CHECK1

// Invalid IR for snn.encode, one case per `// -----` section, each with the verifier's message.

// -----
// result shape
builtin.module {
  func.func @main(%x: tensor<2x3xf32>, %t: tensor<f32>) -> !snn.counts<2x4, 15> {
    %0 = snn.encode %x, %t : (tensor<2x3xf32>, tensor<f32>) -> !snn.counts<2x4, 15>
    func.return %0 : !snn.counts<2x4, 15>
  }
}
// CHECK1: nscc: error: <stdin>: IR does not verify: snn.encode: result shape must equal input shape
