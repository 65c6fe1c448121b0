// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for snn.fixed_hadamard, one case per `// -----` section, each with the verifier's message.

// -----
// factors whose orders do not multiply to the last axis
builtin.module {
  func.func @main(%x: tensor<2x12xi32>, %a: tensor<4x4xi8>, %b: tensor<2x2xi8>) -> tensor<2x12xi32> {
    %0 = snn.fixed_hadamard %x, %a, %b {multiplier = 100 : i64, shift = 8 : i64} : (tensor<2x12xi32>, tensor<4x4xi8>, tensor<2x2xi8>) -> tensor<2x12xi32>
    func.return %0 : tensor<2x12xi32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.fixed_hadamard: the factors' orders 4 x 2 must multiply to the last axis of (2, 12)

// -----
// a factor that is not square
builtin.module {
  func.func @main(%x: tensor<2x12xi32>, %a: tensor<4x3xi8>, %b: tensor<3x3xi8>) -> tensor<2x12xi32> {
    %0 = snn.fixed_hadamard %x, %a, %b {multiplier = 100 : i64, shift = 8 : i64} : (tensor<2x12xi32>, tensor<4x3xi8>, tensor<3x3xi8>) -> tensor<2x12xi32>
    func.return %0 : tensor<2x12xi32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.fixed_hadamard: the factors must be square matrices, got (4, 3) and (3, 3)

// -----
// result shape
builtin.module {
  func.func @main(%x: tensor<2x12xi32>, %a: tensor<4x4xi8>, %b: tensor<3x3xi8>) -> tensor<12x2xi32> {
    %0 = snn.fixed_hadamard %x, %a, %b {multiplier = 100 : i64, shift = 8 : i64} : (tensor<2x12xi32>, tensor<4x4xi8>, tensor<3x3xi8>) -> tensor<12x2xi32>
    func.return %0 : tensor<12x2xi32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.fixed_hadamard: result shape must equal input shape

// -----
// a multiplier that could overflow the int64 sum
builtin.module {
  func.func @main(%x: tensor<2x12xi32>, %a: tensor<4x4xi8>, %b: tensor<3x3xi8>) -> tensor<2x12xi32> {
    %0 = snn.fixed_hadamard %x, %a, %b {multiplier = 65536 : i64, shift = 8 : i64} : (tensor<2x12xi32>, tensor<4x4xi8>, tensor<3x3xi8>) -> tensor<2x12xi32>
    func.return %0 : tensor<2x12xi32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.fixed_hadamard: needs 0 < multiplier < 2^16 and shift >= 0 (the int64 sum times it cannot overflow)
