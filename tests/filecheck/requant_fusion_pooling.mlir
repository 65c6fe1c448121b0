// RUN: nscc opt %s -p requant-fusion | filecheck %s

// Between two convolutions, decode -> relu -> max pool -> encode: every step never
// decreases along a channel, so the integers are pooled and then requantized once.
// Before a dense layer, decode -> relu -> flatten -> encode: the accumulators are
// flattened and each channel's multiplier repeats over its 4 positions. Both at once
// (max pool, then flatten): pooled, flattened, then requantized.
builtin.module {
  func.func @main(%x: tensor<1x2x4x4xf32>) -> (tensor<1x3x2x2xf32>, tensor<1x2xf32>, tensor<1x2xf32>) {
    %t0 = arith.constant dense<2.500000e-01> : tensor<f32>
    %n0 = snn.encode %x, %t0 : (tensor<1x2x4x4xf32>, tensor<f32>) -> !snn.counts<1x2x4x4, 15>
    %w0 = arith.constant dense<1> : tensor<3x2x1x1xi8>
    %a0 = snn.conv_synapse %n0, %w0 {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 1 : i64, acc_bits = 32 : i64} : (!snn.counts<1x2x4x4, 15>, tensor<3x2x1x1xi8>) -> tensor<1x3x4x4xi32>
    %s0 = arith.constant dense<[1.000000e-01, 2.000000e-01, 3.000000e-01]> : tensor<3xf32>
    %b0 = arith.constant dense<[1.000000e-02, -2.000000e-02, 3.000000e-02]> : tensor<3xf32>
    %y0 = snn.decode %a0, %s0, %b0 {axis = 1 : i64} : (tensor<1x3x4x4xi32>, tensor<3xf32>, tensor<3xf32>) -> tensor<1x3x4x4xf32>
    %r0 = nn.relu %y0 : (tensor<1x3x4x4xf32>) -> tensor<1x3x4x4xf32>
    %p0 = nn.max_pool %r0 {kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>} : (tensor<1x3x4x4xf32>) -> tensor<1x3x2x2xf32>
    %t1 = arith.constant dense<5.000000e-01> : tensor<f32>
    %n1 = snn.encode %p0, %t1 : (tensor<1x3x2x2xf32>, tensor<f32>) -> !snn.counts<1x3x2x2, 15>
    %w1 = arith.constant dense<1> : tensor<3x3x1x1xi8>
    %a1 = snn.conv_synapse %n1, %w1 {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 1 : i64, acc_bits = 32 : i64} : (!snn.counts<1x3x2x2, 15>, tensor<3x3x1x1xi8>) -> tensor<1x3x2x2xi32>
    %y1 = snn.decode %a1, %s0 {axis = 1 : i64} : (tensor<1x3x2x2xi32>, tensor<3xf32>) -> tensor<1x3x2x2xf32>
    %r1 = nn.relu %y1 : (tensor<1x3x2x2xf32>) -> tensor<1x3x2x2xf32>
    %f1 = nn.reshape %r1 : (tensor<1x3x2x2xf32>) -> tensor<1x12xf32>
    %n2 = snn.encode %f1, %t1 : (tensor<1x12xf32>, tensor<f32>) -> !snn.counts<1x12, 15>
    %w2 = arith.constant dense<1> : tensor<12x2xi8>
    %a2 = snn.synapse %n2, %w2 {acc_bits = 32 : i64} : (!snn.counts<1x12, 15>, tensor<12x2xi8>) -> tensor<1x2xi32>
    %s2 = arith.constant dense<1.000000e+00> : tensor<f32>
    %y2 = snn.decode %a2, %s2 {axis = 1 : i64} : (tensor<1x2xi32>, tensor<f32>) -> tensor<1x2xf32>
    %y3 = snn.decode %a0, %s0, %b0 {axis = 1 : i64} : (tensor<1x3x4x4xi32>, tensor<3xf32>, tensor<3xf32>) -> tensor<1x3x4x4xf32>
    %r3 = nn.relu %y3 : (tensor<1x3x4x4xf32>) -> tensor<1x3x4x4xf32>
    %p3 = nn.max_pool %r3 {kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>} : (tensor<1x3x4x4xf32>) -> tensor<1x3x2x2xf32>
    %f3 = nn.reshape %p3 : (tensor<1x3x2x2xf32>) -> tensor<1x12xf32>
    %n3 = snn.encode %f3, %t1 : (tensor<1x12xf32>, tensor<f32>) -> !snn.counts<1x12, 15>
    %a3 = snn.synapse %n3, %w2 {acc_bits = 32 : i64} : (!snn.counts<1x12, 15>, tensor<12x2xi8>) -> tensor<1x2xi32>
    %y4 = snn.decode %a3, %s2 {axis = 1 : i64} : (tensor<1x2xi32>, tensor<f32>) -> tensor<1x2xf32>
    func.return %y1, %y2, %y4 : tensor<1x3x2x2xf32>, tensor<1x2xf32>, tensor<1x2xf32>
  }
}

// CHECK:      %[[A0:.*]] = snn.conv_synapse
// CHECK:      %[[P0:.*]] = nn.max_pool %[[A0]] {{.*}} : (tensor<1x3x4x4xi32>) -> tensor<1x3x2x2xi32>
// CHECK:      %[[N1:.*]] = snn.requant %[[P0]], %{{.*}}, %{{.*}} {{.*}}bias_frac = {{[0-9]+}} : i64} : (tensor<1x3x2x2xi32>, tensor<3xi32>, tensor<3xi32>) -> !snn.counts<1x3x2x2, 15>
// CHECK:      %[[A1:.*]] = snn.conv_synapse %[[N1]]
// CHECK:      %[[M2:.*]] = nn.weight "requant.multiplier_1" : tensor<12xi32>
// CHECK:      %[[F1:.*]] = nn.reshape %[[A1]] : (tensor<1x3x2x2xi32>) -> tensor<1x12xi32>
// CHECK-NEXT: %[[N2:.*]] = snn.requant %[[F1]], %[[M2]] {shift = {{[0-9]+}} : i64, axis = 1 : i64} : (tensor<1x12xi32>, tensor<12xi32>) -> !snn.counts<1x12, 15>
// CHECK:      %[[P3:.*]] = nn.max_pool %[[A0]] {{.*}} : (tensor<1x3x4x4xi32>) -> tensor<1x3x2x2xi32>
// CHECK-NEXT: %[[F3:.*]] = nn.reshape %[[P3]] : (tensor<1x3x2x2xi32>) -> tensor<1x12xi32>
// CHECK:      snn.requant %[[F3]], %{{.*}}, %{{.*}} {{.*}} : (tensor<1x12xi32>, tensor<12xi32>, tensor<12xi32>) -> !snn.counts<1x12, 15>
// CHECK-NOT:  nn.max_pool %{{.*}} : (tensor<1x3x4x4xf32>)
// CHECK:      func.return
