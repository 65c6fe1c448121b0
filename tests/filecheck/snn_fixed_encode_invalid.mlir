// RUN: awk -v k=1 '/^\/\/ -----/{i++} i==k' %s | not nscc opt - 2>&1 | filecheck %s --check-prefix=CHECK1
// RUN: awk -v k=2 '/^\/\/ -----/{i++} i==k' %s | not nscc opt - 2>&1 | filecheck %s --check-prefix=CHECK2
// RUN: awk -v k=3 '/^\/\/ -----/{i++} i==k' %s | not nscc opt - 2>&1 | filecheck %s --check-prefix=CHECK3

// Invalid IR for snn.fixed_encode, one case per `// -----` section, each with the verifier's message.

// -----
// result shape
builtin.module {
  func.func @main(%x: tensor<2x3xf32>) -> tensor<3x2xi32> {
    %0 = snn.fixed_encode %x {frac_bits = 8 : i64} : (tensor<2x3xf32>) -> tensor<3x2xi32>
    func.return %0 : tensor<3x2xi32>
  }
}
// CHECK1: nscc: error: <stdin>: IR does not verify: snn.fixed_encode: result shape must equal input shape

// -----
// frac_bits
builtin.module {
  func.func @main(%x: tensor<2x3xf32>) -> tensor<2x3xi32> {
    %0 = snn.fixed_encode %x {frac_bits = 31 : i64} : (tensor<2x3xf32>) -> tensor<2x3xi32>
    func.return %0 : tensor<2x3xi32>
  }
}
// CHECK2: nscc: error: <stdin>: IR does not verify: snn.fixed_encode: frac_bits must be in [0, 30]

// -----
// i32 result
builtin.module {
  func.func @main(%x: tensor<2x3xf32>) -> tensor<2x3xi16> {
    %0 = snn.fixed_encode %x {frac_bits = 8 : i64} : (tensor<2x3xf32>) -> tensor<2x3xi16>
    func.return %0 : tensor<2x3xi16>
  }
}
// CHECK3: nscc: error: <stdin>: IR does not verify: snn.fixed_encode: fixed-point values are i32 tensors, got tensor<2x3xi16>
