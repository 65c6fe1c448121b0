// RUN: awk -v k=1 '/^\/\/ -----/{i++} i==k' %s | not nscc opt - 2>&1 | filecheck %s --check-prefix=CHECK1
// RUN: awk -v k=2 '/^\/\/ -----/{i++} i==k' %s | not nscc opt - 2>&1 | filecheck %s --check-prefix=CHECK2

// Invalid IR for nn.transpose, one case per `// -----` section, each with the verifier's message.

// -----
// permutation
builtin.module {
  func.func @main(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
    %0 = nn.transpose %x {perm = array<i64: 0, 0>} : (tensor<2x3xf32>) -> tensor<2x3xf32>
    func.return %0 : tensor<2x3xf32>
  }
}
// CHECK1: nscc: error: <stdin>: IR does not verify: nn.transpose: [0, 0] is not a permutation of rank 2

// -----
// result shape
builtin.module {
  func.func @main(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
    %0 = nn.transpose %x {perm = array<i64: 1, 0>} : (tensor<2x3xf32>) -> tensor<2x3xf32>
    func.return %0 : tensor<2x3xf32>
  }
}
// CHECK2: nscc: error: <stdin>: IR does not verify: nn.transpose: result shape does not match the permutation
