// RUN: nscc opt %s -p requant-fusion | filecheck %s
// RUN: nscc opt %s -p 'requant-fusion{multiplier-bits=8}' | filecheck %s --check-prefix=M8

// requant-fusion rewrites decode -> (relu) -> encode between two spiking layers
// into one integer snn.requant of the accumulator: n = clip((((acc << f) + B) * M +
// 2^(k+f-1)) >> (k+f), lo, D), M / 2^k = scale / theta, B = round(bias / scale * 2^f).
// The shift k is the largest that keeps every M below 2^multiplier-bits, so it
// follows from the constants here: max(s / theta) = 0.2 gives k = 26 (24 bits)
// or 10 (8 bits); 0.5 gives 24 or 8. The bias gets f = 24 fraction bits (the
// synapse's largest sum, 30 x 15, and the bias leave room for them), so that the
// rounding boundaries stay where the float form has them. A ReLU before signed
// counts is not a clip and is left alone, as is a decode that something else
// still reads.
builtin.module {
  func.func @main(%x: tensor<2x4xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>) {
    %t0 = arith.constant dense<1.000000e-01> : tensor<f32>
    %n0 = snn.encode %x, %t0 : (tensor<2x4xf32>, tensor<f32>) -> !snn.counts<2x4, 15, signed>
    %w0 = arith.constant dense<[[1, -2, 3], [4, 5, -6], [-7, 8, 9], [10, -11, 12]]> : tensor<4x3xi8>
    %a0 = snn.synapse %n0, %w0 {acc_bits = 32 : i64} : (!snn.counts<2x4, 15, signed>, tensor<4x3xi8>) -> tensor<2x3xi32>
    %s0 = arith.constant dense<[1.000000e-02, 2.000000e-02, 4.000000e-02]> : tensor<3xf32>
    %b0 = arith.constant dense<[5.000000e-01, -2.500000e-01, 1.000000e-01]> : tensor<3xf32>
    %y0 = snn.decode %a0, %s0, %b0 {axis = 1 : i64} : (tensor<2x3xi32>, tensor<3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
    %r = nn.relu %y0 : (tensor<2x3xf32>) -> tensor<2x3xf32>
    %t1 = arith.constant dense<2.000000e-01> : tensor<f32>
    %n1 = snn.encode %r, %t1 : (tensor<2x3xf32>, tensor<f32>) -> !snn.counts<2x3, 15>
    %w1 = arith.constant dense<[[1, 2, 3], [-4, 5, 6], [7, -8, 9]]> : tensor<3x3xi8>
    %a1 = snn.synapse %n1, %w1 {acc_bits = 32 : i64} : (!snn.counts<2x3, 15>, tensor<3x3xi8>) -> tensor<2x3xi32>
    %s1 = arith.constant dense<5.000000e-02> : tensor<f32>
    %y1 = snn.decode %a1, %s1 {axis = 1 : i64} : (tensor<2x3xi32>, tensor<f32>) -> tensor<2x3xf32>
    %t2 = arith.constant dense<[1.000000e-01, 2.000000e-01, 4.000000e-01]> : tensor<3xf32>
    %n2 = snn.encode %y1, %t2 : (tensor<2x3xf32>, tensor<3xf32>) -> !snn.counts<2x3, 7, signed>
    %a2 = snn.synapse %n2, %w1 {acc_bits = 32 : i64} : (!snn.counts<2x3, 7, signed>, tensor<3x3xi8>) -> tensor<2x3xi32>
    %y2 = snn.decode %a2, %s1 {axis = 1 : i64} : (tensor<2x3xi32>, tensor<f32>) -> tensor<2x3xf32>
    %r2 = nn.relu %y2 : (tensor<2x3xf32>) -> tensor<2x3xf32>
    %n3 = snn.encode %r2, %t1 : (tensor<2x3xf32>, tensor<f32>) -> !snn.counts<2x3, 15, signed>
    %a3 = snn.synapse %n3, %w1 {acc_bits = 32 : i64} : (!snn.counts<2x3, 15, signed>, tensor<3x3xi8>) -> tensor<2x3xi32>
    %y3 = snn.decode %a3, %s1 {axis = 1 : i64} : (tensor<2x3xi32>, tensor<f32>) -> tensor<2x3xf32>
    func.return %y3, %y0 : tensor<2x3xf32>, tensor<2x3xf32>
  }
}

// CHECK-LABEL: func.func @main
// CHECK:      %[[N0:.*]] = snn.encode %x, %t0 : (tensor<2x4xf32>, tensor<f32>) -> !snn.counts<2x4, 15, signed>
// CHECK:      %[[A0:.*]] = snn.synapse %[[N0]], %w0
// The first decode is still returned, so it stays; the ReLU went into the clip at 0.
// CHECK:      %[[Y0:.*]] = snn.decode %[[A0]], %s0, %b0 {axis = 1 : i64}
// CHECK-NOT:  nn.relu
// CHECK:      %[[M1:.*]] = nn.weight "requant.multiplier" : tensor<3xi32>
// CHECK-NEXT: %[[B1:.*]] = nn.weight "requant.ibias" : tensor<3xi32>
// CHECK-NEXT: %[[N1:.*]] = snn.requant %[[A0]], %[[M1]], %[[B1]] {shift = 50 : i64, axis = 1 : i64, bias_frac = 24 : i64} : (tensor<2x3xi32>, tensor<3xi32>, tensor<3xi32>) -> !snn.counts<2x3, 15>
// CHECK:      %[[A1:.*]] = snn.synapse %[[N1]], %w1 {acc_bits = 32 : i64} : (!snn.counts<2x3, 15>, tensor<3x3xi8>) -> tensor<2x3xi32>
// No bias: no integer bias operand. Per-channel thresholds give per-channel multipliers.
// CHECK:      %[[M2:.*]] = nn.weight "requant.multiplier_1" : tensor<3xi32>
// CHECK-NEXT: %[[N2:.*]] = snn.requant %[[A1]], %[[M2]] {shift = 24 : i64, axis = 1 : i64} : (tensor<2x3xi32>, tensor<3xi32>) -> !snn.counts<2x3, 7, signed>
// CHECK-NEXT: %[[A2:.*]] = snn.synapse %[[N2]], %w1
// ReLU before signed counts: decode, relu and encode stay.
// CHECK-NEXT: %[[Y2:.*]] = snn.decode %[[A2]], %s1 {axis = 1 : i64}
// CHECK-NEXT: %[[R2:.*]] = nn.relu %[[Y2]]
// CHECK-NEXT: %[[N3:.*]] = snn.encode %[[R2]], %t1 : (tensor<2x3xf32>, tensor<f32>) -> !snn.counts<2x3, 15, signed>
// CHECK-NEXT: %[[A3:.*]] = snn.synapse %[[N3]], %w1
// CHECK-NEXT: %[[Y3:.*]] = snn.decode %[[A3]], %s1 {axis = 1 : i64}
// CHECK-NEXT: func.return %[[Y3]], %[[Y0]]

// M8: snn.requant %a0, %{{.*}}, %{{.*}} {shift = 34 : i64, axis = 1 : i64, bias_frac = 24 : i64} : (tensor<2x3xi32>, tensor<3xi32>, tensor<3xi32>) -> !snn.counts<2x3, 15>
// M8: snn.requant %a1, %{{.*}} {shift = 8 : i64, axis = 1 : i64} : (tensor<2x3xi32>, tensor<3xi32>) -> !snn.counts<2x3, 7, signed>
