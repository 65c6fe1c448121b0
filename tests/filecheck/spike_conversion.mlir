// RUN: nscc opt %s -p 'spike-conversion{granularity=per-tensor}' 2>&1 | tee %t | filecheck %s
// RUN: filecheck %s --input-file %t --check-prefix=GONE
// RUN: nscc opt %s -p 'spike-conversion{weight-bits=4 granularity=per-channel}' 2>/dev/null | filecheck %s --check-prefix=W4
// RUN: nscc opt %s -p 'spike-conversion{weight-bits=1.58 levels=7 coding=ternary keep-dense=conv}' 2>/dev/null | filecheck %s --check-prefix=TERN

// spike-conversion rewrites every linear op with constant weights (nn.matmul by
// a weight, nn.conv) into snn.encode (counts of D levels, signed where the
// calibration sees negative inputs) -> snn.synapse / snn.conv_synapse (integer
// weights, an integer accumulator) -> snn.decode (per output channel scale and
// the bias). An unsigned encoder reads through a ReLU (its clip at 0 is the
// ReLU); an activation quantizer the model was trained with is encoded with its
// own threshold and keeps its bias. No --calib: the documented random
// calibration, so thresholds are not checked (they live in the weight store).
builtin.module {
  func.func @main(%x: tensor<2x8xf32>, %img: tensor<1x2x3x3xf32>, %z: tensor<2x4xf32>) -> (tensor<2x3xf32>, tensor<1x2x3x3xf32>, tensor<2x3xf32>) {
    %w1 = arith.constant dense<[[0.5, -0.25, 0.125, 1.0], [-0.5, 0.75, 0.25, -1.0], [0.3, 0.1, -0.2, 0.4], [-0.6, 0.2, 0.9, -0.1], [0.05, -0.7, 0.35, 0.15], [0.8, 0.45, -0.55, 0.6], [-0.15, -0.35, 0.65, -0.85], [0.25, 0.95, -0.45, 0.05]]> : tensor<8x4xf32>
    %h = nn.matmul %x, %w1 {nscc.layer = "fc1"} : (tensor<2x8xf32>, tensor<8x4xf32>) -> tensor<2x4xf32>
    %r = nn.relu %h : (tensor<2x4xf32>) -> tensor<2x4xf32>
    %w2 = arith.constant dense<[[0.5, -0.5, 0.25], [1.0, 0.75, -0.25], [-0.125, 0.5, 0.375], [0.625, -1.0, 0.875]]> : tensor<4x3xf32>
    %y = nn.matmul %r, %w2 {nscc.layer = "fc2"} : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
    %k = arith.constant dense<[[[[0.5]], [[-0.25]]], [[[0.75]], [[1.0]]]]> : tensor<2x2x1x1xf32>
    %c = nn.conv %img, %k {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 1 : i64, nscc.layer = "conv"} : (tensor<1x2x3x3xf32>, tensor<2x2x1x1xf32>) -> tensor<1x2x3x3xf32>
    %th = arith.constant dense<2.500000e-01> : tensor<f32>
    %zd = nn.div %z, %th : (tensor<2x4xf32>, tensor<f32>) -> tensor<2x4xf32>
    %zc = nn.clip %zd {min = 0.000000e+00 : f32, max = 3.000000e+00 : f32} : (tensor<2x4xf32>) -> tensor<2x4xf32>
    %zn = nn.round %zc : (tensor<2x4xf32>) -> tensor<2x4xf32>
    %zq = nn.mul %zn, %th : (tensor<2x4xf32>, tensor<f32>) -> tensor<2x4xf32>
    %t = nn.matmul %zq, %w2 {nscc.layer = "trained"} : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
    func.return %y, %c, %t : tensor<2x3xf32>, tensor<1x2x3x3xf32>, tensor<2x3xf32>
  }
}

// CHECK:      nscc: warning: no --calib data; calibrating on 8 random batches
// CHECK:      builtin.module attributes {nscc.spike_coding = "thermometer"}
// CHECK-LABEL: func.func @main
// CHECK:      %[[T1:.*]] = nn.weight "fc1.theta" : tensor<f32>
// CHECK-NEXT: %[[N1:.*]] = snn.encode %x, %[[T1]] : (tensor<2x8xf32>, tensor<f32>) -> !snn.counts<2x8, 15, signed>
// CHECK-NEXT: %[[W1:.*]] = nn.weight "fc1.weight.q8" : tensor<8x4xi8>
// CHECK-NEXT: %[[A1:.*]] = snn.synapse %[[N1]], %[[W1]] {{{.*}}nscc.layer = "fc1", nscc.weight_bits = 8 : i64{{.*}}acc_bits = 32 : i64} : (!snn.counts<2x8, 15, signed>, tensor<8x4xi8>) -> tensor<2x4xi32>
// CHECK-NEXT: %[[S1:.*]] = nn.weight "fc1.scale" : tensor<4xf32>
// CHECK-NEXT: %[[B1:.*]] = nn.weight "fc1.bias" : tensor<4xf32>
// CHECK-NEXT: %[[H:.*]] = snn.decode %[[A1]], %[[S1]], %[[B1]] {axis = 1 : i64} : (tensor<2x4xi32>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
// The ReLU's output is only read by fc2: its unsigned encoder reads the decode itself.
// CHECK-NEXT: %[[T2:.*]] = nn.weight "fc2.theta" : tensor<f32>
// CHECK-NEXT: %[[N2:.*]] = snn.encode %[[H]], %[[T2]] : (tensor<2x4xf32>, tensor<f32>) -> !snn.counts<2x4, 15>
// CHECK-NEXT: %[[W2:.*]] = nn.weight "fc2.weight.q8" : tensor<4x3xi8>
// CHECK-NEXT: %[[A2:.*]] = snn.synapse %[[N2]], %[[W2]] {{.*}} : (!snn.counts<2x4, 15>, tensor<4x3xi8>) -> tensor<2x3xi32>
// CHECK:      %[[Y:.*]] = snn.decode %[[A2]], %{{.*}}, %{{.*}} {axis = 1 : i64} : (tensor<2x3xi32>, tensor<3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
// CHECK:      %[[NC:.*]] = snn.encode %img, %{{.*}} : (tensor<1x2x3x3xf32>, tensor<f32>) -> !snn.counts<1x2x3x3, 15, signed>
// CHECK-NEXT: %[[WC:.*]] = nn.weight "conv.weight.q8" : tensor<2x2x1x1xi8>
// CHECK-NEXT: %[[AC:.*]] = snn.conv_synapse %[[NC]], %[[WC]] {{{.*}}strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 1 : i64, acc_bits = 32 : i64} : (!snn.counts<1x2x3x3, 15, signed>, tensor<2x2x1x1xi8>) -> tensor<1x2x3x3xi32>
// CHECK:      %[[C:.*]] = snn.decode %[[AC]], %{{.*}}, %{{.*}} {axis = 1 : i64} : (tensor<1x2x3x3xi32>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x2x3x3xf32>
// The trained quantizer: the encoder reads its input, unsigned, at its trained D = 3, and the layer has no bias.
// CHECK:      %[[NT:.*]] = snn.encode %z, %{{.*}} : (tensor<2x4xf32>, tensor<f32>) -> !snn.counts<2x4, 3>
// CHECK:      %[[AT:.*]] = snn.synapse %[[NT]], %{{.*}} : (!snn.counts<2x4, 3>, tensor<4x3xi8>) -> tensor<2x3xi32>
// CHECK:      %[[TR:.*]] = snn.decode %[[AT]], %{{.*}} {axis = 1 : i64} : (tensor<2x3xi32>, tensor<3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT: func.return %[[Y]], %[[C]], %[[TR]]

// No float linear op, no ReLU and no float quantizer is left.
// GONE-LABEL: func.func @main
// GONE-NOT:   nn.matmul
// GONE-NOT:   {{ nn.conv }}
// GONE-NOT:   nn.relu
// GONE-NOT:   nn.round
// GONE-NOT:   nn.clip
// GONE:       func.return

// 4-bit weights; per-channel thresholds, one per input channel (a conv's broadcast over H, W).
// W4:      nn.weight "fc1.theta" : tensor<8xf32>
// W4:      snn.encode %x, %{{.*}} : (tensor<2x8xf32>, tensor<8xf32>) -> !snn.counts<2x8, 15, signed>
// W4:      snn.synapse {{.*}}nscc.weight_bits = 4 : i64{{.*}} : (!snn.counts<2x8, 15, signed>, tensor<8x4xi4>) -> tensor<2x4xi32>
// W4:      nn.weight "fc2.theta" : tensor<4xf32>
// W4:      snn.synapse {{.*}} : (!snn.counts<2x4, 15>, tensor<4x3xi4>) -> tensor<2x3xi32>
// W4:      nn.weight "conv.theta" : tensor<2x1x1xf32>
// W4:      snn.conv_synapse {{.*}} : (!snn.counts<1x2x3x3, 15, signed>, tensor<2x2x1x1xi4>) -> tensor<1x2x3x3xi32>
// W4-NOT:  tensor<{{.*}}xi8>

// Ternary weights (stored in 2 bits), 7 levels, every count signed (the ReLU
// stays: a signed encoder cannot absorb it); the conv is kept dense.
// TERN:      builtin.module attributes {nscc.spike_coding = "ternary"}
// TERN:      snn.encode %x, %{{.*}} -> !snn.counts<2x8, 7, signed>
// TERN:      snn.synapse {{.*}}nscc.weight_bits = 1.58{{.*}} : (!snn.counts<2x8, 7, signed>, tensor<8x4xi2>) -> tensor<2x4xi32>
// TERN:      %[[R:.*]] = nn.relu
// TERN:      snn.encode %[[R]], %{{.*}} -> !snn.counts<2x4, 7, signed>
// TERN:      snn.synapse {{.*}} : (!snn.counts<2x4, 7, signed>, tensor<4x3xi2>) -> tensor<2x3xi32>
// TERN:      nn.conv %img
// TERN-NOT:  snn.conv_synapse
