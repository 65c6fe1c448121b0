// RUN: nscc opt %s -p fuse-rms-norm | filecheck %s

// RMSNorm as torch's dynamo exporter writes Llama's (Pow, Reciprocal of
// Sqrt, gamma on the left), as the legacy exporter writes it (1 / Sqrt),
// squared as x * x and divided by the root, without a gamma, and Gemma's
// (1 + weight): each is one nn.rms_norm with eps from the graph. Near misses
// stay: a mean over the leading axis, a mean of x * z (no square), and the
// mean square of a deviation x - mean(x) (a LayerNorm, for fuse-layer-norm).
builtin.module {
  func.func @dynamo(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
    %two = arith.constant dense<2.000000e+00> : tensor<f32>
    %p = nn.pow %x, %two : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
    %m = nn.reduce_mean %p {axes = array<i64: 1>, keepdims} : (tensor<4x8xf32>) -> tensor<4x1xf32>
    %eps = arith.constant dense<9.99999997E-7> : tensor<f32>
    %v = nn.add %m, %eps : (tensor<4x1xf32>, tensor<f32>) -> tensor<4x1xf32>
    %s = nn.sqrt %v : (tensor<4x1xf32>) -> tensor<4x1xf32>
    %r = nn.reciprocal %s : (tensor<4x1xf32>) -> tensor<4x1xf32>
    %n = nn.mul %x, %r : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
    %g = arith.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]> : tensor<8xf32>
    %y = nn.mul %g, %n : (tensor<8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    func.return %y : tensor<4x8xf32>
  }
  func.func @legacy(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
    %p = nn.mul %x, %x : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %m = nn.reduce_mean %p {axes = array<i64: 1>, keepdims} : (tensor<4x8xf32>) -> tensor<4x1xf32>
    %eps = arith.constant dense<9.99999974E-6> : tensor<f32>
    %v = nn.add %eps, %m : (tensor<f32>, tensor<4x1xf32>) -> tensor<4x1xf32>
    %s = nn.sqrt %v : (tensor<4x1xf32>) -> tensor<4x1xf32>
    %one = arith.constant dense<1.000000e+00> : tensor<f32>
    %r = nn.div %one, %s : (tensor<f32>, tensor<4x1xf32>) -> tensor<4x1xf32>
    %n = nn.mul %x, %r : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
    %g = arith.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]> : tensor<8xf32>
    %y = nn.mul %n, %g : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
    func.return %y : tensor<4x8xf32>
  }
  func.func @divided(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
    %two = arith.constant dense<2.000000e+00> : tensor<f32>
    %p = nn.pow %x, %two : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
    %m = nn.reduce_mean %p {axes = array<i64: 1>, keepdims} : (tensor<4x8xf32>) -> tensor<4x1xf32>
    %eps = arith.constant dense<9.99999997E-7> : tensor<f32>
    %v = nn.add %m, %eps : (tensor<4x1xf32>, tensor<f32>) -> tensor<4x1xf32>
    %s = nn.sqrt %v : (tensor<4x1xf32>) -> tensor<4x1xf32>
    %y = nn.div %x, %s : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
    func.return %y : tensor<4x8xf32>
  }
  func.func @gemma(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
    %two = arith.constant dense<2.000000e+00> : tensor<f32>
    %p = nn.pow %x, %two : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
    %m = nn.reduce_mean %p {axes = array<i64: 1>, keepdims} : (tensor<4x8xf32>) -> tensor<4x1xf32>
    %eps = arith.constant dense<9.99999997E-7> : tensor<f32>
    %v = nn.add %m, %eps : (tensor<4x1xf32>, tensor<f32>) -> tensor<4x1xf32>
    %s = nn.sqrt %v : (tensor<4x1xf32>) -> tensor<4x1xf32>
    %r = nn.reciprocal %s : (tensor<4x1xf32>) -> tensor<4x1xf32>
    %n = nn.mul %x, %r : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
    %one = arith.constant dense<1.000000e+00> : tensor<f32>
    %w = arith.constant dense<[0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5]> : tensor<8xf32>
    %g = nn.add %one, %w : (tensor<f32>, tensor<8xf32>) -> tensor<8xf32>
    %y = nn.mul %n, %g : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
    func.return %y : tensor<4x8xf32>
  }
  func.func @leading_axis(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
    %p = nn.mul %x, %x : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %m = nn.reduce_mean %p {axes = array<i64: 0>, keepdims} : (tensor<4x8xf32>) -> tensor<1x8xf32>
    %eps = arith.constant dense<9.99999997E-7> : tensor<f32>
    %v = nn.add %m, %eps : (tensor<1x8xf32>, tensor<f32>) -> tensor<1x8xf32>
    %s = nn.sqrt %v : (tensor<1x8xf32>) -> tensor<1x8xf32>
    %y = nn.div %x, %s : (tensor<4x8xf32>, tensor<1x8xf32>) -> tensor<4x8xf32>
    func.return %y : tensor<4x8xf32>
  }
  func.func @not_a_square(%x: tensor<4x8xf32>, %z: tensor<4x8xf32>) -> tensor<4x8xf32> {
    %p = nn.mul %x, %z : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %m = nn.reduce_mean %p {axes = array<i64: 1>, keepdims} : (tensor<4x8xf32>) -> tensor<4x1xf32>
    %eps = arith.constant dense<9.99999997E-7> : tensor<f32>
    %v = nn.add %m, %eps : (tensor<4x1xf32>, tensor<f32>) -> tensor<4x1xf32>
    %s = nn.sqrt %v : (tensor<4x1xf32>) -> tensor<4x1xf32>
    %y = nn.div %x, %s : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
    func.return %y : tensor<4x8xf32>
  }
  func.func @centred(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
    %mu = nn.reduce_mean %x {axes = array<i64: 1>, keepdims} : (tensor<4x8xf32>) -> tensor<4x1xf32>
    %d = nn.sub %x, %mu : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
    %p = nn.mul %d, %d : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %m = nn.reduce_mean %p {axes = array<i64: 1>, keepdims} : (tensor<4x8xf32>) -> tensor<4x1xf32>
    %eps = arith.constant dense<9.99999997E-7> : tensor<f32>
    %v = nn.add %m, %eps : (tensor<4x1xf32>, tensor<f32>) -> tensor<4x1xf32>
    %s = nn.sqrt %v : (tensor<4x1xf32>) -> tensor<4x1xf32>
    %y = nn.div %d, %s : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
    func.return %y : tensor<4x8xf32>
  }
}

// CHECK:      func.func @dynamo(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
// CHECK-NEXT:   %g = arith.constant
// CHECK-NEXT:   %y = nn.rms_norm %x, %g {axis = 1 : i64, epsilon = 9.99999997{{[0-9]*}}e-07 : f64}
// CHECK-NEXT:   func.return %y
// CHECK:      func.func @legacy(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
// CHECK-NEXT:   %g = arith.constant
// CHECK-NEXT:   %y = nn.rms_norm %x, %g {axis = 1 : i64, epsilon = 9.99999974{{[0-9]*}}e-06 : f64}
// CHECK-NEXT:   func.return %y
// CHECK:      func.func @divided(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
// CHECK-NEXT:   %[[ONES:.*]] = nn.weight "norm.scale" : tensor<8xf32>
// CHECK-NEXT:   %[[Y:.*]] = nn.rms_norm %x, %[[ONES]] {axis = 1 : i64
// CHECK-NEXT:   func.return %[[Y]]
// CHECK:      func.func @gemma(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
// CHECK:        %g = nn.add %one, %w
// CHECK-NEXT:   %y = nn.rms_norm %x, %g {axis = 1 : i64
// CHECK-NEXT:   func.return %y
// CHECK:      func.func @leading_axis
// CHECK:        nn.reduce_mean
// CHECK:        %y = nn.div %x, %s
// CHECK:      func.func @not_a_square
// CHECK:        nn.reduce_mean
// CHECK:        %y = nn.div %x, %s
// CHECK:      func.func @centred
// CHECK:        nn.reduce_mean
// CHECK:        nn.reduce_mean
// CHECK:        %y = nn.div %d, %s
// CHECK-NOT:  nn.rms_norm
