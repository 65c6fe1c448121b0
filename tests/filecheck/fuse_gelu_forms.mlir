// RUN: nscc opt %s -p fuse-gelu | filecheck %s

// More spellings of GELU, all one nn.gelu: transformers' gelu_fast, which
// factors the tanh's argument as sqrt(2/pi) x (1 + 0.044715 x x); the legacy
// exporter's tanh form (the cube as x * (x * x), 1 + tanh, the half last);
// and the erf form with x * (1/sqrt 2) and the half as a division by 2.
// Near misses stay as written: erf(x / 2), a tanh form with 0.05 for
// 0.044715, and 0.5 y (1 + erf(x / sqrt 2)) with y another value.
builtin.module {
  func.func @main(%x: tensor<4x8xf32>, %y: tensor<4x8xf32>, %z: tensor<4x8xf32>, %w: tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) {
    %half = arith.constant dense<5.000000e-01> : tensor<f32>
    %one = arith.constant dense<1.000000e+00> : tensor<f32>
    %c = arith.constant dense<0.797884583> : tensor<f32>
    %k = arith.constant dense<4.471500e-02> : tensor<f32>
    %xh = nn.mul %x, %half : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
    %xc = nn.mul %x, %c : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
    %xk = nn.mul %x, %k : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
    %xkx = nn.mul %xk, %x : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %p = nn.add %xkx, %one : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
    %arg = nn.mul %xc, %p : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %t = nn.tanh %arg : (tensor<4x8xf32>) -> tensor<4x8xf32>
    %o = nn.add %t, %one : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
    %g1 = nn.mul %xh, %o : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %yy = nn.mul %y, %y : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %yyy = nn.mul %y, %yy : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %ky = nn.mul %k, %yyy : (tensor<f32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %ya = nn.add %y, %ky : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %yc = nn.mul %c, %ya : (tensor<f32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %yt = nn.tanh %yc : (tensor<4x8xf32>) -> tensor<4x8xf32>
    %yo = nn.add %one, %yt : (tensor<f32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %yx = nn.mul %y, %yo : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %g2 = nn.mul %half, %yx : (tensor<f32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %r = arith.constant dense<0.707106769> : tensor<f32>
    %zr = nn.mul %z, %r : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
    %ze = nn.erf %zr : (tensor<4x8xf32>) -> tensor<4x8xf32>
    %zo = nn.add %ze, %one : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
    %zx = nn.mul %z, %zo : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %two = arith.constant dense<2.000000e+00> : tensor<f32>
    %g3 = nn.div %zx, %two : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
    %w2 = nn.div %w, %two : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
    %we = nn.erf %w2 : (tensor<4x8xf32>) -> tensor<4x8xf32>
    %wo = nn.add %we, %one : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
    %wx = nn.mul %w, %wo : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %n1 = nn.mul %wx, %half : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
    %k5 = arith.constant dense<5.000000e-02> : tensor<f32>
    %wk = nn.mul %k5, %yyy : (tensor<f32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %wa = nn.add %y, %wk : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %wc = nn.mul %c, %wa : (tensor<f32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %wt = nn.tanh %wc : (tensor<4x8xf32>) -> tensor<4x8xf32>
    %wto = nn.add %wt, %one : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
    %wty = nn.mul %y, %wto : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %n2 = nn.mul %wty, %half : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
    %s = arith.constant dense<1.41421354> : tensor<f32>
    %xs = nn.div %x, %s : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
    %xe = nn.erf %xs : (tensor<4x8xf32>) -> tensor<4x8xf32>
    %xo = nn.add %xe, %one : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
    %wh = nn.mul %w, %half : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
    %n3 = nn.mul %wh, %xo : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    func.return %g1, %g2, %g3, %n1, %n2, %n3 : tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>
  }
}

// CHECK:      func.func @main
// CHECK:        %[[G1:.*]] = nn.gelu %x {approximate = "tanh"}
// CHECK:        %[[G2:.*]] = nn.gelu %y {approximate = "tanh"}
// CHECK:        %[[G3:.*]] = nn.gelu %z {approximate = "none"}
// CHECK:        nn.erf
// CHECK:        %[[N1:.*]] = nn.mul %{{.*}}, %half
// CHECK:        nn.tanh
// CHECK:        %[[N2:.*]] = nn.mul %{{.*}}, %half
// CHECK:        nn.erf
// CHECK:        %[[N3:.*]] = nn.mul %wh, %xo
// CHECK-NEXT:   func.return %[[G1]], %[[G2]], %[[G3]], %[[N1]], %[[N2]], %[[N3]]
// CHECK-NOT:    nn.gelu
