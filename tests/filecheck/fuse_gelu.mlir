// RUN: nscc opt %s -p fuse-gelu | filecheck %s

// GELU as torch's dynamo exporter writes it (tanh form, Pow for the cube), as
// the legacy exporter writes the erf form, and as transformers' gelu_new
// (GPT-2) comes out of dynamo, the half taken first; all become one nn.gelu.
builtin.module {
  func.func @main(%x: tensor<4x8xf32>, %y: tensor<4x8xf32>, %z: tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) {
    %c3 = arith.constant dense<3.000000e+00> : tensor<f32>
    %p = nn.pow %x, %c3 : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
    %c1 = arith.constant dense<4.471500e-02> : tensor<f32>
    %m1 = nn.mul %c1, %p : (tensor<f32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %a1 = nn.add %x, %m1 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %c2 = arith.constant dense<0.797884583> : tensor<f32>
    %m2 = nn.mul %c2, %a1 : (tensor<f32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %t = nn.tanh %m2 : (tensor<4x8xf32>) -> tensor<4x8xf32>
    %one = arith.constant dense<1.000000e+00> : tensor<f32>
    %a2 = nn.add %t, %one : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
    %half = arith.constant dense<5.000000e-01> : tensor<f32>
    %m3 = nn.mul %half, %a2 : (tensor<f32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %g1 = nn.mul %x, %m3 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %r2 = arith.constant dense<1.41421354> : tensor<f32>
    %d = nn.div %y, %r2 : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
    %e = nn.erf %d : (tensor<4x8xf32>) -> tensor<4x8xf32>
    %a3 = nn.add %e, %one : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
    %m4 = nn.mul %y, %a3 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %g2 = nn.mul %m4, %half : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
    %zh = nn.mul %z, %half : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
    %zp = nn.pow %z, %c3 : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
    %zc = nn.mul %zp, %c1 : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
    %za = nn.add %z, %zc : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %zs = nn.mul %za, %c2 : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
    %zt = nn.tanh %zs : (tensor<4x8xf32>) -> tensor<4x8xf32>
    %zo = nn.add %zt, %one : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
    %g3 = nn.mul %zh, %zo : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    func.return %g1, %g2, %g3 : tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>
  }
}

// CHECK:      func.func @main(%x: tensor<4x8xf32>, %y: tensor<4x8xf32>, %z: tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) {
// CHECK-NEXT:   %[[G1:.*]] = nn.gelu %x {approximate = "tanh"} : (tensor<4x8xf32>) -> tensor<4x8xf32>
// CHECK-NEXT:   %[[G2:.*]] = nn.gelu %y {approximate = "none"} : (tensor<4x8xf32>) -> tensor<4x8xf32>
// CHECK-NEXT:   %[[G3:.*]] = nn.gelu %z {approximate = "tanh"} : (tensor<4x8xf32>) -> tensor<4x8xf32>
// CHECK-NEXT:   func.return %[[G1]], %[[G2]], %[[G3]]
