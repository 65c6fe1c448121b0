// RUN: awk -v k=1 '/^\/\/ -----/{i++} i==k' %s | not nscc opt - 2>&1 | filecheck %s --check-prefix=CHECK1
// RUN: awk -v k=2 '/^\/\/ -----/{i++} i==k' %s | not nscc opt - 2>&1 | filecheck %s --check-prefix=CHECK2
// RUN: awk -v k=3 '/^\/\/ -----/{i++} i==k' %s | not nscc opt - 2>&1 | filecheck %s --check-prefix=CHECK3
// RUN: awk -v k=4 '/^\/\/ -----/{i++} i==k' %s | not nscc opt - 2>&1 | filecheck %s --check-prefix=CHECK4
// RUN: awk -v k=5 '/^\/\/ -----/{i++} i==k' %s | not nscc opt - 2>&1 | filecheck %s --check-prefix=CHECK5

// Invalid IR for snn.fixed_layer_norm, one case per `// -----` section, each with the verifier's message.

// -----
// axis
builtin.module {
  func.func @main(%x: tensor<2x16xi32>, %g: tensor<16xi32>) -> tensor<2x16xi32> {
    %0 = snn.fixed_layer_norm %x, %g, %g {axis = 2 : i64, frac_bits = 8 : i64, var_shift = 3 : i64, epsilon = 1 : i64} : (tensor<2x16xi32>, tensor<16xi32>, tensor<16xi32>) -> tensor<2x16xi32>
    func.return %0 : tensor<2x16xi32>
  }
}
// CHECK1: nscc: error: <stdin>: IR does not verify: snn.fixed_layer_norm: axis 2 is out of range for rank 2

// -----
// frac_bits
builtin.module {
  func.func @main(%x: tensor<2x16xi32>, %g: tensor<16xi32>) -> tensor<2x16xi32> {
    %0 = snn.fixed_layer_norm %x, %g, %g {axis = 1 : i64, frac_bits = 31 : i64, var_shift = 3 : i64, epsilon = 1 : i64} : (tensor<2x16xi32>, tensor<16xi32>, tensor<16xi32>) -> tensor<2x16xi32>
    func.return %0 : tensor<2x16xi32>
  }
}
// CHECK2: nscc: error: <stdin>: IR does not verify: snn.fixed_layer_norm: frac_bits must be in [0, 30]

// -----
// gamma shape
builtin.module {
  func.func @main(%x: tensor<2x16xi32>, %g: tensor<8xi32>) -> tensor<2x16xi32> {
    %0 = snn.fixed_layer_norm %x, %g, %g {axis = 1 : i64, frac_bits = 8 : i64, var_shift = 3 : i64, epsilon = 1 : i64} : (tensor<2x16xi32>, tensor<8xi32>, tensor<8xi32>) -> tensor<2x16xi32>
    func.return %0 : tensor<2x16xi32>
  }
}
// CHECK3: nscc: error: <stdin>: IR does not verify: snn.fixed_layer_norm: gamma and beta must broadcast to the input shape (2, 16), got (8,)

// -----
// result shape
builtin.module {
  func.func @main(%x: tensor<2x16xi32>, %g: tensor<16xi32>) -> tensor<16x2xi32> {
    %0 = snn.fixed_layer_norm %x, %g, %g {axis = 1 : i64, frac_bits = 8 : i64, var_shift = 3 : i64, epsilon = 1 : i64} : (tensor<2x16xi32>, tensor<16xi32>, tensor<16xi32>) -> tensor<16x2xi32>
    func.return %0 : tensor<16x2xi32>
  }
}
// CHECK4: nscc: error: <stdin>: IR does not verify: snn.fixed_layer_norm: result shape must equal input shape

// -----
// var_shift
builtin.module {
  func.func @main(%x: tensor<2x16xi32>, %g: tensor<16xi32>) -> tensor<2x16xi32> {
    %0 = snn.fixed_layer_norm %x, %g, %g {axis = 1 : i64, frac_bits = 8 : i64, var_shift = 0 : i64, epsilon = 1 : i64} : (tensor<2x16xi32>, tensor<16xi32>, tensor<16xi32>) -> tensor<2x16xi32>
    func.return %0 : tensor<2x16xi32>
  }
}
// CHECK5: nscc: error: <stdin>: IR does not verify: snn.fixed_layer_norm: var_shift 0 lets the sum of 16 squares overflow 64 bits (needs >= 3)
