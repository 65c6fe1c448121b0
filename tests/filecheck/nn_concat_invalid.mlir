// RUN: awk -v k=1 '/^\/\/ -----/{i++} i==k' %s | not nscc opt - 2>&1 | filecheck %s --check-prefix=CHECK1
// RUN: awk -v k=2 '/^\/\/ -----/{i++} i==k' %s | not nscc opt - 2>&1 | filecheck %s --check-prefix=CHECK2
// RUN: awk -v k=3 '/^\/\/ -----/{i++} i==k' %s | not nscc opt - 2>&1 | filecheck %s --check-prefix=CHECK3
// RUN: awk -v k=4 '/^\/\/ -----/{i++} i==k' %s | not nscc opt - 2>&1 | filecheck %s --check-prefix=CHECK4

// Invalid IR for nn.concat, one case per `// -----` section, each with the verifier's message.

// -----
// no inputs
builtin.module {
  func.func @main() -> tensor<2xf32> {
    %0 = nn.concat {axis = 0 : i64} : () -> tensor<2xf32>
    func.return %0 : tensor<2xf32>
  }
}
// CHECK1: nscc: error: <stdin>: IR does not verify: nn.concat: needs at least one input

// -----
// axis
builtin.module {
  func.func @main(%x: tensor<2x3xf32>) -> tensor<2x6xf32> {
    %0 = nn.concat %x, %x {axis = 2 : i64} : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x6xf32>
    func.return %0 : tensor<2x6xf32>
  }
}
// CHECK2: nscc: error: <stdin>: IR does not verify: nn.concat: axis 2 is out of range for rank 2

// -----
// shapes off the axis
builtin.module {
  func.func @main(%x: tensor<2x3xf32>, %y: tensor<3x3xf32>) -> tensor<2x6xf32> {
    %0 = nn.concat %x, %y {axis = 1 : i64} : (tensor<2x3xf32>, tensor<3x3xf32>) -> tensor<2x6xf32>
    func.return %0 : tensor<2x6xf32>
  }
}
// CHECK3: nscc: error: <stdin>: IR does not verify: nn.concat: input (3, 3) does not fit result (2, 6) off axis 1

// -----
// size on the axis
builtin.module {
  func.func @main(%x: tensor<2x3xf32>) -> tensor<2x5xf32> {
    %0 = nn.concat %x, %x {axis = 1 : i64} : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x5xf32>
    func.return %0 : tensor<2x5xf32>
  }
}
// CHECK4: nscc: error: <stdin>: IR does not verify: nn.concat: inputs add up to 6 on axis 1, not 5
