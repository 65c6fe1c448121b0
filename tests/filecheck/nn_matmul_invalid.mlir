// RUN: awk -v k=1 '/^\/\/ -----/{i++} i==k' %s | not nscc opt - 2>&1 | filecheck %s --check-prefix=CHECK1

// Invalid IR for nn.matmul, one case per `// -----` section, each with the verifier's message.

// -----
// contraction
builtin.module {
  func.func @main(%a: tensor<2x3xf32>, %b: tensor<4x5xf32>) -> tensor<2x5xf32> {
    %0 = nn.matmul %a, %b : (tensor<2x3xf32>, tensor<4x5xf32>) -> tensor<2x5xf32>
    func.return %0 : tensor<2x5xf32>
  }
}
// CHECK1: nscc: error: <stdin>: IR does not verify: nn.matmul: contraction sizes differ ((2, 3) @ (4, 5))
