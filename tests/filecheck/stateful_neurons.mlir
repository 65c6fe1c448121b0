// RUN: nscc opt %s -p stateful-neurons | filecheck %s
// RUN: nscc opt %s -p 'stateful-neurons{leak-shift=3 frac-bits=12}' | filecheck %s --check-prefix=LIF

// stateful-neurons rewrites each spike encoder whose counts only feed synapses
// that are decoded into an integer IF neuron over the leading (time) axis:
// x / (D theta) as a fixed-point current (snn.fixed_encode, frac-bits) into
// snn.neuron (threshold 2^F, soft reset, one spike per step: counts of level 1),
// and the decodes after it scale by D (a new neuron.scale weight). An encoder
// with no time axis (rank 1) is left alone, and so is the scale it still reads.
builtin.module {
  func.func @main(%x: tensor<4x3xf32>, %v: tensor<3xf32>) -> (tensor<4x2xf32>, tensor<2xf32>) {
    %t = arith.constant dense<1.000000e-01> : tensor<f32>
    %n = snn.encode %x, %t : (tensor<4x3xf32>, tensor<f32>) -> !snn.counts<4x3, 15, signed>
    %w = arith.constant dense<[[1, -2], [3, 4], [-5, 6]]> : tensor<3x2xi8>
    %a = snn.synapse %n, %w {acc_bits = 32 : i64} : (!snn.counts<4x3, 15, signed>, tensor<3x2xi8>) -> tensor<4x2xi32>
    %s = arith.constant dense<[1.000000e-02, 2.000000e-02]> : tensor<2xf32>
    %b = arith.constant dense<[5.000000e-01, -5.000000e-01]> : tensor<2xf32>
    %y = snn.decode %a, %s, %b {axis = 1 : i64} : (tensor<4x2xi32>, tensor<2xf32>, tensor<2xf32>) -> tensor<4x2xf32>
    %m = snn.encode %v, %t : (tensor<3xf32>, tensor<f32>) -> !snn.counts<3, 15>
    %a2 = snn.synapse %m, %w {acc_bits = 32 : i64} : (!snn.counts<3, 15>, tensor<3x2xi8>) -> tensor<2xi32>
    %y2 = snn.decode %a2, %s {axis = 0 : i64} : (tensor<2xi32>, tensor<2xf32>) -> tensor<2xf32>
    func.return %y, %y2 : tensor<4x2xf32>, tensor<2xf32>
  }
}

// CHECK-LABEL: func.func @main
// CHECK-NOT:  snn.encode %x
// CHECK:      %[[TH:.*]] = nn.weight "neuron.threshold" : tensor<f32>
// CHECK-NEXT: %[[I:.*]] = nn.div %x, %[[TH]] : (tensor<4x3xf32>, tensor<f32>) -> tensor<4x3xf32>
// CHECK-NEXT: %[[C:.*]] = snn.fixed_encode %[[I]] {frac_bits = 16 : i64} : (tensor<4x3xf32>) -> tensor<4x3xi32>
// CHECK-NEXT: %[[N:.*]] = snn.neuron %[[C]] {threshold = 65536 : i64, leak_shift = 0 : i64} : (tensor<4x3xi32>) -> !snn.counts<4x3, 1, signed>
// CHECK-NOT:  snn.encode %x
// CHECK:      %[[A:.*]] = snn.synapse %[[N]], %w {acc_bits = 32 : i64} : (!snn.counts<4x3, 1, signed>, tensor<3x2xi8>) -> tensor<4x2xi32>
// CHECK:      %[[S:.*]] = nn.weight "neuron.scale" : tensor<2xf32>
// CHECK-NEXT: %[[Y:.*]] = snn.decode %[[A]], %[[S]], %b {axis = 1 : i64} : (tensor<4x2xi32>, tensor<2xf32>, tensor<2xf32>) -> tensor<4x2xf32>
// CHECK-NEXT: %[[M:.*]] = snn.encode %v, %t : (tensor<3xf32>, tensor<f32>) -> !snn.counts<3, 15>
// CHECK-NEXT: %[[A2:.*]] = snn.synapse %[[M]], %w
// CHECK-NEXT: %[[Y2:.*]] = snn.decode %[[A2]], %s {axis = 0 : i64}
// CHECK-NEXT: func.return %[[Y]], %[[Y2]]

// LIF: snn.fixed_encode %{{.*}} {frac_bits = 12 : i64} : (tensor<4x3xf32>) -> tensor<4x3xi32>
// LIF: snn.neuron %{{.*}} {threshold = 4096 : i64, leak_shift = 3 : i64} : (tensor<4x3xi32>) -> !snn.counts<4x3, 1, signed>
// LIF: snn.encode %v
