// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for nn.conv, one case per `// -----` section, each with the verifier's message.

// -----
// ranks
builtin.module {
  func.func @main(%x: tensor<1x3x8xf32>, %w: tensor<4x3x3x3xf32>) -> tensor<1x4x6x6xf32> {
    %0 = nn.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 1 : i64} : (tensor<1x3x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x6x6xf32>
    func.return %0 : tensor<1x4x6x6xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.conv: input (1, 3, 8) and weight (4, 3, 3, 3) must both be [N, C, spatial...] of the same rank >= 3

// -----
// strides, pads and dilations
builtin.module {
  func.func @main(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) -> tensor<1x4x6x6xf32> {
    %0 = nn.conv %x, %w {strides = array<i64: 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 1 : i64} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x6x6xf32>
    func.return %0 : tensor<1x4x6x6xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.conv: strides and dilations need 2 entries and pads 4

// -----
// channels and groups
builtin.module {
  func.func @main(%x: tensor<1x3x8x8xf32>, %w: tensor<4x2x3x3xf32>) -> tensor<1x4x6x6xf32> {
    %0 = nn.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 1 : i64} : (tensor<1x3x8x8xf32>, tensor<4x2x3x3xf32>) -> tensor<1x4x6x6xf32>
    func.return %0 : tensor<1x4x6x6xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.conv: 3 input channels do not fit weight (4, 2, 3, 3) in 1 group(s)

// -----
// bias
builtin.module {
  func.func @main(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>, %b: tensor<3xf32>) -> tensor<1x4x6x6xf32> {
    %0 = nn.conv %x, %w, %b {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 1 : i64} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<3xf32>) -> tensor<1x4x6x6xf32>
    func.return %0 : tensor<1x4x6x6xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.conv: bias must have shape (4,)

// -----
// result shape
builtin.module {
  func.func @main(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) -> tensor<1x4x8x8xf32> {
    %0 = nn.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 1 : i64} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x8x8xf32>
    func.return %0 : tensor<1x4x8x8xf32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.conv: result shape must be (1, 4, 6, 6)
