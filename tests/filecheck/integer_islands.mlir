// RUN: nscc opt %s -p integer-islands | tee %t | filecheck %s
// RUN: filecheck %s --input-file %t --check-prefix=GONE
// RUN: nscc opt %s -p 'integer-islands{frac-bits=20}' | filecheck %s --check-prefix=F20

// integer-islands rewrites the non-spiking ops between spiking layers into
// fixed point (tensor<...xi32> v standing for v * 2^-F, frac-bits F = 16), I-BERT
// style: a decode that feeds an island becomes snn.requant to i32; LayerNorm,
// GELU, softmax and residual adds become snn.fixed_layer_norm, snn.fixed_gelu,
// snn.fixed_softmax and the saturating snn.fixed_add; a ReLU works on the
// integers; an encode of a fixed-point value becomes snn.requant to counts. At
// the boundaries a float value entering an island gets snn.fixed_encode and a
// float op (tanh here, or the function's results) reading a converted value
// gets snn.fixed_decode. The shifts follow from the constants: the decode's
// largest scale 0.08 * 2^16 gives k = 11 for a 24-bit multiplier, the encode's
// 2^-16 / 0.25 gives k = 37; LayerNorm over 4 values has var_shift 2 and
// epsilon round(1e-5 * 2^(2 (16 - 2))) = 2684.
builtin.module {
  func.func @main(%x: tensor<2x4xf32>) -> (tensor<2x3xf32>, tensor<2x4xf32>, tensor<2x4xf32>) {
    %t0 = arith.constant dense<1.000000e-01> : tensor<f32>
    %n0 = snn.encode %x, %t0 : (tensor<2x4xf32>, tensor<f32>) -> !snn.counts<2x4, 15, signed>
    %w0 = arith.constant dense<[[1, -2, 3, 4], [5, 6, -7, 8], [-9, 10, 11, 12], [13, -14, 15, 16]]> : tensor<4x4xi8>
    %a0 = snn.synapse %n0, %w0 {acc_bits = 32 : i64} : (!snn.counts<2x4, 15, signed>, tensor<4x4xi8>) -> tensor<2x4xi32>
    %s0 = arith.constant dense<[1.000000e-02, 2.000000e-02, 4.000000e-02, 8.000000e-02]> : tensor<4xf32>
    %b0 = arith.constant dense<[5.000000e-01, -2.500000e-01, 1.250000e-01, 0.000000e+00]> : tensor<4xf32>
    %h = snn.decode %a0, %s0, %b0 {axis = 1 : i64} : (tensor<2x4xi32>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
    %gamma = arith.constant dense<[1.000000e+00, 5.000000e-01, 2.000000e+00, 1.000000e+00]> : tensor<4xf32>
    %beta = arith.constant dense<[0.000000e+00, 1.000000e-01, -1.000000e-01, 2.500000e-01]> : tensor<4xf32>
    %ln = nn.layer_norm %h, %gamma, %beta {axis = 1 : i64, epsilon = 1.000000e-05 : f32} : (tensor<2x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
    %g = nn.gelu %ln {approximate = "none"} : (tensor<2x4xf32>) -> tensor<2x4xf32>
    %res = nn.add %g, %x : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
    %r = nn.relu %res : (tensor<2x4xf32>) -> tensor<2x4xf32>
    %t1 = arith.constant dense<2.500000e-01> : tensor<f32>
    %n1 = snn.encode %r, %t1 : (tensor<2x4xf32>, tensor<f32>) -> !snn.counts<2x4, 15>
    %w1 = arith.constant dense<[[1, 2, 3], [-4, 5, 6], [7, -8, 9], [10, 11, -12]]> : tensor<4x3xi8>
    %a1 = snn.synapse %n1, %w1 {acc_bits = 32 : i64} : (!snn.counts<2x4, 15>, tensor<4x3xi8>) -> tensor<2x3xi32>
    %s1 = arith.constant dense<5.000000e-02> : tensor<f32>
    %y = snn.decode %a1, %s1 {axis = 1 : i64} : (tensor<2x3xi32>, tensor<f32>) -> tensor<2x3xf32>
    %sm = nn.softmax %res {axis = 1 : i64} : (tensor<2x4xf32>) -> tensor<2x4xf32>
    %th = nn.tanh %res : (tensor<2x4xf32>) -> tensor<2x4xf32>
    func.return %y, %sm, %th : tensor<2x3xf32>, tensor<2x4xf32>, tensor<2x4xf32>
  }
}

// CHECK-LABEL: func.func @main
// CHECK:      %[[A0:.*]] = snn.synapse %n0, %w0
// CHECK-NEXT: %[[M:.*]] = nn.weight "{{.*}}.fixed_multiplier" : tensor<4xi32>
// CHECK-NEXT: %[[IB:.*]] = nn.weight "{{.*}}.fixed_bias" : tensor<4xi32>
// CHECK-NEXT: %[[H:.*]] = snn.requant %[[A0]], %[[M]], %[[IB]] {shift = 11 : i64, axis = 1 : i64} : (tensor<2x4xi32>, tensor<4xi32>, tensor<4xi32>) -> tensor<2x4xi32>
// CHECK-NEXT: %[[G:.*]] = nn.weight "{{.*}}.fixed_gamma" : tensor<4xi32>
// CHECK-NEXT: %[[B:.*]] = nn.weight "{{.*}}.fixed_beta" : tensor<4xi32>
// CHECK-NEXT: %[[LN:.*]] = snn.fixed_layer_norm %[[H]], %[[G]], %[[B]] {frac_bits = 16 : i64, axis = 1 : i64, var_shift = 2 : i64, epsilon = 2684 : i64} : (tensor<2x4xi32>, tensor<4xi32>, tensor<4xi32>) -> tensor<2x4xi32>
// CHECK-NEXT: %[[GE:.*]] = snn.fixed_gelu %[[LN]] {frac_bits = 16 : i64} : (tensor<2x4xi32>) -> tensor<2x4xi32>
// CHECK-NEXT: %[[X:.*]] = snn.fixed_encode %x {frac_bits = 16 : i64} : (tensor<2x4xf32>) -> tensor<2x4xi32>
// CHECK-NEXT: %[[RES:.*]] = snn.fixed_add %[[GE]], %[[X]] : (tensor<2x4xi32>, tensor<2x4xi32>) -> tensor<2x4xi32>
// CHECK-NEXT: %[[RESF:.*]] = snn.fixed_decode %[[RES]] {frac_bits = 16 : i64} : (tensor<2x4xi32>) -> tensor<2x4xf32>
// CHECK-NEXT: %[[R:.*]] = nn.relu %[[RES]] : (tensor<2x4xi32>) -> tensor<2x4xi32>
// CHECK-NEXT: %[[EM:.*]] = nn.weight "{{.*}}.fixed_encode_multiplier" : tensor<4xi32>
// CHECK-NEXT: %[[N1:.*]] = snn.requant %[[R]], %[[EM]] {shift = 37 : i64, axis = 1 : i64} : (tensor<2x4xi32>, tensor<4xi32>) -> !snn.counts<2x4, 15>
// CHECK:      %[[A1:.*]] = snn.synapse %[[N1]], %w1
// The last decode feeds no island: it stays float.
// CHECK:      %[[Y:.*]] = snn.decode %[[A1]], %s1 {axis = 1 : i64} : (tensor<2x3xi32>, tensor<f32>) -> tensor<2x3xf32>
// CHECK-NEXT: %[[SM:.*]] = snn.fixed_softmax %[[RES]] {frac_bits = 16 : i64, axis = 1 : i64} : (tensor<2x4xi32>) -> tensor<2x4xi32>
// CHECK-NEXT: %[[SMF:.*]] = snn.fixed_decode %[[SM]] {frac_bits = 16 : i64} : (tensor<2x4xi32>) -> tensor<2x4xf32>
// CHECK-NEXT: %[[TH:.*]] = nn.tanh %[[RESF]] : (tensor<2x4xf32>) -> tensor<2x4xf32>
// CHECK-NEXT: func.return %[[Y]], %[[SMF]], %[[TH]]

// No float island op is left, and only the input is encoded.
// GONE-LABEL: func.func @main
// GONE:       snn.encode %x
// GONE-NOT:   nn.layer_norm
// GONE-NOT:   nn.gelu
// GONE-NOT:   nn.softmax
// GONE-NOT:   nn.add
// GONE-NOT:   snn.encode
// GONE:       func.return

// F20:      snn.requant %a0, %{{.*}}, %{{.*}} {shift = 7 : i64, axis = 1 : i64} : (tensor<2x4xi32>, tensor<4xi32>, tensor<4xi32>) -> tensor<2x4xi32>
// F20:      snn.fixed_layer_norm {{.*}} {frac_bits = 20 : i64, axis = 1 : i64, var_shift = 2 : i64, epsilon = 687195 : i64}
// F20:      snn.fixed_gelu %{{.*}} {frac_bits = 20 : i64}
// F20:      snn.fixed_encode %x {frac_bits = 20 : i64}
// F20:      snn.requant {{.*}} {shift = 41 : i64, axis = 1 : i64} : (tensor<2x4xi32>, tensor<4xi32>) -> !snn.counts<2x4, 15>
// F20:      snn.fixed_softmax %{{.*}} {frac_bits = 20 : i64, axis = 1 : i64}
