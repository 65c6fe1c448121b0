// RUN: nscc opt %s -p fuse-layer-norm | filecheck %s

// LayerNorm written out: as torch exports nn.LayerNorm before opset 17
// (Div by the root, then gamma and beta), by hand with gamma before the
// division, and with rsqrt as a power of -0.5 and no beta; each is one
// nn.layer_norm with eps from the graph. Near misses stay: the unbiased
// variance (mean square deviation times 8/7) and eps added outside the root.
builtin.module {
  func.func @old_opset(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
    %mu = nn.reduce_mean %x {axes = array<i64: 1>, keepdims} : (tensor<4x8xf32>) -> tensor<4x1xf32>
    %d = nn.sub %x, %mu : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
    %two = arith.constant dense<2.000000e+00> : tensor<f32>
    %p = nn.pow %d, %two : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
    %var = nn.reduce_mean %p {axes = array<i64: 1>, keepdims} : (tensor<4x8xf32>) -> tensor<4x1xf32>
    %eps = arith.constant dense<9.99999974E-6> : tensor<f32>
    %v = nn.add %var, %eps : (tensor<4x1xf32>, tensor<f32>) -> tensor<4x1xf32>
    %s = nn.sqrt %v : (tensor<4x1xf32>) -> tensor<4x1xf32>
    %n = nn.div %d, %s : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
    %g = arith.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]> : tensor<8xf32>
    %ng = nn.mul %n, %g : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
    %b = arith.constant dense<[0.5, 0.5, 0.5, 0.5, 1.0, 1.0, 1.0, 1.0]> : tensor<8xf32>
    %y = nn.add %ng, %b : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
    func.return %y : tensor<4x8xf32>
  }
  func.func @hand(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
    %mu = nn.reduce_mean %x {axes = array<i64: 1>, keepdims} : (tensor<4x8xf32>) -> tensor<4x1xf32>
    %d = nn.sub %x, %mu : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
    %p = nn.mul %d, %d : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %var = nn.reduce_mean %p {axes = array<i64: 1>, keepdims} : (tensor<4x8xf32>) -> tensor<4x1xf32>
    %g = arith.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]> : tensor<8xf32>
    %gd = nn.mul %g, %d : (tensor<8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %eps = arith.constant dense<9.99999974E-6> : tensor<f32>
    %v = nn.add %var, %eps : (tensor<4x1xf32>, tensor<f32>) -> tensor<4x1xf32>
    %s = nn.sqrt %v : (tensor<4x1xf32>) -> tensor<4x1xf32>
    %n = nn.div %gd, %s : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
    %b = arith.constant dense<[0.5, 0.5, 0.5, 0.5, 1.0, 1.0, 1.0, 1.0]> : tensor<8xf32>
    %y = nn.add %n, %b : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
    func.return %y : tensor<4x8xf32>
  }
  func.func @rsqrt_pow(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
    %mu = nn.reduce_mean %x {axes = array<i64: 1>, keepdims} : (tensor<4x8xf32>) -> tensor<4x1xf32>
    %d = nn.sub %x, %mu : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
    %p = nn.mul %d, %d : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %var = nn.reduce_mean %p {axes = array<i64: 1>, keepdims} : (tensor<4x8xf32>) -> tensor<4x1xf32>
    %eps = arith.constant dense<9.99999974E-6> : tensor<f32>
    %v = nn.add %var, %eps : (tensor<4x1xf32>, tensor<f32>) -> tensor<4x1xf32>
    %h = arith.constant dense<-5.000000e-01> : tensor<f32>
    %r = nn.pow %v, %h : (tensor<4x1xf32>, tensor<f32>) -> tensor<4x1xf32>
    %n = nn.mul %d, %r : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
    %g = arith.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]> : tensor<8xf32>
    %y = nn.mul %n, %g : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
    func.return %y : tensor<4x8xf32>
  }
  func.func @unbiased(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
    %mu = nn.reduce_mean %x {axes = array<i64: 1>, keepdims} : (tensor<4x8xf32>) -> tensor<4x1xf32>
    %d = nn.sub %x, %mu : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
    %p = nn.mul %d, %d : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %var = nn.reduce_mean %p {axes = array<i64: 1>, keepdims} : (tensor<4x8xf32>) -> tensor<4x1xf32>
    %k = arith.constant dense<1.14285719> : tensor<f32>
    %uv = nn.mul %var, %k : (tensor<4x1xf32>, tensor<f32>) -> tensor<4x1xf32>
    %eps = arith.constant dense<9.99999974E-6> : tensor<f32>
    %v = nn.add %uv, %eps : (tensor<4x1xf32>, tensor<f32>) -> tensor<4x1xf32>
    %s = nn.sqrt %v : (tensor<4x1xf32>) -> tensor<4x1xf32>
    %y = nn.div %d, %s : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
    func.return %y : tensor<4x8xf32>
  }
  func.func @eps_outside(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
    %mu = nn.reduce_mean %x {axes = array<i64: 1>, keepdims} : (tensor<4x8xf32>) -> tensor<4x1xf32>
    %d = nn.sub %x, %mu : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
    %p = nn.mul %d, %d : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %var = nn.reduce_mean %p {axes = array<i64: 1>, keepdims} : (tensor<4x8xf32>) -> tensor<4x1xf32>
    %s = nn.sqrt %var : (tensor<4x1xf32>) -> tensor<4x1xf32>
    %eps = arith.constant dense<9.99999974E-6> : tensor<f32>
    %v = nn.add %s, %eps : (tensor<4x1xf32>, tensor<f32>) -> tensor<4x1xf32>
    %y = nn.div %d, %v : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
    func.return %y : tensor<4x8xf32>
  }
}

// CHECK:      func.func @old_opset(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
// CHECK-NEXT:   %g = arith.constant
// CHECK-NEXT:   %b = arith.constant
// CHECK-NEXT:   %y = nn.layer_norm %x, %g, %b {axis = 1 : i64, epsilon = 9.99999974{{[0-9]*}}e-06 : f64}
// CHECK-NEXT:   func.return %y
// CHECK:      func.func @hand(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
// CHECK-NEXT:   %g = arith.constant
// CHECK-NEXT:   %b = arith.constant
// CHECK-NEXT:   %y = nn.layer_norm %x, %g, %b {axis = 1 : i64, epsilon = 9.99999974{{[0-9]*}}e-06 : f64}
// CHECK-NEXT:   func.return %y
// CHECK:      func.func @rsqrt_pow(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
// CHECK-NEXT:   %g = arith.constant
// CHECK-NEXT:   %y = nn.layer_norm %x, %g {axis = 1 : i64, epsilon = 9.99999974{{[0-9]*}}e-06 : f64}
// CHECK-NEXT:   func.return %y
// CHECK:      func.func @unbiased
// CHECK:        %y = nn.div %d, %s
// CHECK:      func.func @eps_outside
// CHECK:        %y = nn.div %d, %v
// CHECK-NOT:  nn.layer_norm
