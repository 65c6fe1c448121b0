// RUN: nscc opt %s -p integer-islands | filecheck %s

// Linear attention's normalisation num / (den + eps), scaled and encoded,
// becomes integers only: a fixed-point ratio, a requantized product, and a
// requantization to counts. An embedding table read by an island becomes a
// fixed-point table.
builtin.module {
  func.func @main(%num: tensor<1x2x1x4xi64>, %den: tensor<1x2x1xi64>, %ids: tensor<1x1xi64>) -> (!snn.counts<1x1x8, 15, signed>, tensor<1x1x8xf32>) {
    %nf = nn.cast %num : (tensor<1x2x1x4xi64>) -> tensor<1x2x1x4xf32>
    %dr = nn.reshape %den : (tensor<1x2x1xi64>) -> tensor<1x2x1x1xi64>
    %df = nn.cast %dr : (tensor<1x2x1x1xi64>) -> tensor<1x2x1x1xf32>
    %eps = arith.constant dense<1.000000e-06> : tensor<f32>
    %d = nn.add %df, %eps : (tensor<1x2x1x1xf32>, tensor<f32>) -> tensor<1x2x1x1xf32>
    %r = nn.div %nf, %d : (tensor<1x2x1x4xf32>, tensor<1x2x1x1xf32>) -> tensor<1x2x1x4xf32>
    %s = arith.constant dense<2.500000e-01> : tensor<f32>
    %m = nn.mul %r, %s : (tensor<1x2x1x4xf32>, tensor<f32>) -> tensor<1x2x1x4xf32>
    %t = nn.transpose %m {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x2x1x4xf32>) -> tensor<1x1x2x4xf32>
    %x = nn.reshape %t : (tensor<1x1x2x4xf32>) -> tensor<1x1x8xf32>
    %th = arith.constant dense<5.000000e-01> : tensor<f32>
    %c = snn.encode %x, %th : (tensor<1x1x8xf32>, tensor<f32>) -> !snn.counts<1x1x8, 15, signed>
    %table = arith.constant dense<[[0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0], [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]]> : tensor<2x8xf32>
    %e = nn.gather %table, %ids {axis = 0 : i64} : (tensor<2x8xf32>, tensor<1x1xi64>) -> tensor<1x1x8xf32>
    %y = nn.add %e, %x : (tensor<1x1x8xf32>, tensor<1x1x8xf32>) -> tensor<1x1x8xf32>
    func.return %c, %y : !snn.counts<1x1x8, 15, signed>, tensor<1x1x8xf32>
  }
}

// CHECK:      %[[RATIO:.*]] = snn.fixed_div %num, %dr {frac_bits = 16 : i64} : (tensor<1x2x1x4xi64>, tensor<1x2x1x1xi64>) -> tensor<1x2x1x4xi32>
// CHECK:      %[[PROD:.*]] = snn.requant %[[RATIO]], %{{.*}} {shift = {{[0-9]+}} : i64, axis = 3 : i64} : (tensor<1x2x1x4xi32>, tensor<4xi32>) -> tensor<1x2x1x4xi32>
// CHECK:      nn.transpose %[[PROD]]
// CHECK:      snn.requant %{{.*}} : (tensor<1x1x8xi32>, tensor<8xi32>) -> !snn.counts<1x1x8, 15, signed>
// CHECK:      %[[ROWS:.*]] = nn.gather %{{.*}}, %ids {axis = 0 : i64} : (tensor<2x8xi32>, tensor<1x1xi64>) -> tensor<1x1x8xi32>
// CHECK:      %[[SUM:.*]] = snn.fixed_add %[[ROWS]], %{{.*}} : (tensor<1x1x8xi32>, tensor<1x1x8xi32>) -> tensor<1x1x8xi32>
// CHECK:      snn.fixed_decode %[[SUM]] {frac_bits = 16 : i64} : (tensor<1x1x8xi32>) -> tensor<1x1x8xf32>
// CHECK-NOT:  nn.div
// CHECK-NOT:  nn.cast
