// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for nn.slice, one case per `// -----` section, each with the verifier's message.

// -----
// lengths
builtin.module {
  func.func @main(%x: tensor<4x6xf32>) -> tensor<4x2xf32> {
    %0 = nn.slice %x {starts = array<i64: 0, 0>, ends = array<i64: 2>, axes = array<i64: 1>, steps = array<i64: 1>} : (tensor<4x6xf32>) -> tensor<4x2xf32>
    func.return %0 : tensor<4x2xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.slice: starts, ends, axes and steps must have the same length

// -----
// step 0
builtin.module {
  func.func @main(%x: tensor<4x6xf32>) -> tensor<4x2xf32> {
    %0 = nn.slice %x {starts = array<i64: 0>, ends = array<i64: 2>, axes = array<i64: 1>, steps = array<i64: 0>} : (tensor<4x6xf32>) -> tensor<4x2xf32>
    func.return %0 : tensor<4x2xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.slice: step 0 is invalid

// -----
// axis
builtin.module {
  func.func @main(%x: tensor<4x6xf32>) -> tensor<4x2xf32> {
    %0 = nn.slice %x {starts = array<i64: 0>, ends = array<i64: 2>, axes = array<i64: 2>, steps = array<i64: 1>} : (tensor<4x6xf32>) -> tensor<4x2xf32>
    func.return %0 : tensor<4x2xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.slice: axis 2 is out of range for rank 2

// -----
// result shape
builtin.module {
  func.func @main(%x: tensor<4x6xf32>) -> tensor<4x3xf32> {
    %0 = nn.slice %x {starts = array<i64: 0>, ends = array<i64: 2>, axes = array<i64: 1>, steps = array<i64: 1>} : (tensor<4x6xf32>) -> tensor<4x3xf32>
    func.return %0 : tensor<4x3xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.slice: result shape must be (4, 2)
