// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for nn.hadamard, one case per `// -----` section, each with the verifier's message.

// -----
// factors whose orders do not multiply to the last axis
builtin.module {
  func.func @main(%x: tensor<2x12xf32>, %a: tensor<4x4xi8>, %b: tensor<2x2xi8>) -> tensor<2x12xf32> {
    %0 = nn.hadamard %x, %a, %b : (tensor<2x12xf32>, tensor<4x4xi8>, tensor<2x2xi8>) -> tensor<2x12xf32>
    func.return %0 : tensor<2x12xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.hadamard: the factors' orders 4 x 2 must multiply to the last axis of (2, 12)

// -----
// a factor that is not square
builtin.module {
  func.func @main(%x: tensor<2x12xf32>, %a: tensor<4x3xi8>, %b: tensor<3x3xi8>) -> tensor<2x12xf32> {
    %0 = nn.hadamard %x, %a, %b : (tensor<2x12xf32>, tensor<4x3xi8>, tensor<3x3xi8>) -> tensor<2x12xf32>
    func.return %0 : tensor<2x12xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.hadamard: the factors must be square matrices, got (4, 3) and (3, 3)

// -----
// result shape
builtin.module {
  func.func @main(%x: tensor<2x12xf32>, %a: tensor<4x4xi8>, %b: tensor<3x3xi8>) -> tensor<12x2xf32> {
    %0 = nn.hadamard %x, %a, %b : (tensor<2x12xf32>, tensor<4x4xi8>, tensor<3x3xi8>) -> tensor<12x2xf32>
    func.return %0 : tensor<12x2xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.hadamard: result shape must equal input shape
