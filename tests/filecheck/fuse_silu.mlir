// RUN: nscc opt %s -p fuse-silu | filecheck %s

// SiLU with the sigmoid on either side, quick_gelu (x * sigmoid(1.702 x), as
// both torch exporters write transformers' quick_gelu), and quick_gelu's
// scaling written as a division; each becomes one nn.silu. Near misses stay:
// sigmoid(2x), a product with something other than x (SwiGLU's up
// projection), and x * sigmoid(x + 1).
builtin.module {
  func.func @main(%a: tensor<4x8xf32>, %b: tensor<4x8xf32>, %c: tensor<4x8xf32>, %d: tensor<4x8xf32>, %e: tensor<4x8xf32>, %u: tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) {
    %sa = nn.sigmoid %a : (tensor<4x8xf32>) -> tensor<4x8xf32>
    %ya = nn.mul %a, %sa : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %sb = nn.sigmoid %b : (tensor<4x8xf32>) -> tensor<4x8xf32>
    %yb = nn.mul %sb, %b : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %k = arith.constant dense<1.702000e+00> : tensor<f32>
    %kc = nn.mul %c, %k : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
    %sc = nn.sigmoid %kc : (tensor<4x8xf32>) -> tensor<4x8xf32>
    %yc = nn.mul %c, %sc : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %inv = arith.constant dense<0.587544072> : tensor<f32>
    %kd = nn.div %d, %inv : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
    %sd = nn.sigmoid %kd : (tensor<4x8xf32>) -> tensor<4x8xf32>
    %yd = nn.mul %sd, %d : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %two = arith.constant dense<2.000000e+00> : tensor<f32>
    %ke = nn.mul %two, %e : (tensor<f32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %se = nn.sigmoid %ke : (tensor<4x8xf32>) -> tensor<4x8xf32>
    %ye = nn.mul %e, %se : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %gate = nn.mul %u, %sa : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %one = arith.constant dense<1.000000e+00> : tensor<f32>
    %a1 = nn.add %a, %one : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
    %s1 = nn.sigmoid %a1 : (tensor<4x8xf32>) -> tensor<4x8xf32>
    %y1 = nn.mul %a, %s1 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    func.return %ya, %yb, %yc, %yd, %ye, %gate, %y1 : tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>
  }
}

// CHECK:      func.func @main
// CHECK-NEXT:   %[[SA:.*]] = nn.sigmoid %a
// CHECK-NEXT:   %[[YA:.*]] = nn.silu %a {alpha = 1.000000e+00 : f64}
// CHECK-NEXT:   %[[YB:.*]] = nn.silu %b {alpha = 1.000000e+00 : f64}
// CHECK-NEXT:   %[[YC:.*]] = nn.silu %c {alpha = 1.702000e+00 : f64}
// CHECK-NEXT:   %[[YD:.*]] = nn.silu %d {alpha = 1.702000e+00 : f64}
// CHECK-NEXT:   %[[TWO:.*]] = arith.constant dense<2.000000e+00>
// CHECK-NEXT:   %[[KE:.*]] = nn.mul %[[TWO]], %e
// CHECK-NEXT:   %[[SE:.*]] = nn.sigmoid %[[KE]]
// CHECK-NEXT:   %[[YE:.*]] = nn.mul %e, %[[SE]]
// CHECK-NEXT:   %[[GATE:.*]] = nn.mul %u, %[[SA]]
// CHECK-NEXT:   %[[ONE:.*]] = arith.constant dense<1.000000e+00>
// CHECK-NEXT:   %[[A1:.*]] = nn.add %a, %[[ONE]]
// CHECK-NEXT:   %[[S1:.*]] = nn.sigmoid %[[A1]]
// CHECK-NEXT:   %[[Y1:.*]] = nn.mul %a, %[[S1]]
// CHECK-NEXT:   func.return %[[YA]], %[[YB]], %[[YC]], %[[YD]], %[[YE]], %[[GATE]], %[[Y1]]
