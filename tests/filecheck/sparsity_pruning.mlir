// RUN: nscc opt %s -p 'spike-conversion{granularity=per-tensor},sparsity-pruning' 2>&1 | filecheck %s
// RUN: nscc opt %s -p 'spike-conversion{granularity=per-tensor},sparsity-pruning{sparsity=0.5 spread=uniform structure=rows keep=head firing-rate=0.5}' 2>&1 | filecheck %s --check-prefix=ROWS

// sparsity-pruning runs on the spiking IR (spike-conversion first, here in the
// same pipeline) and rewrites the integer synaptic weights into pruned ones
// (`<name>.pruned`, each synapse marked with nscc.weight_sparsity) and the
// decodes into ones whose bias (and scale) take the mean output shift back
// (`.tuned`). With firing-rate < 1 each encoder's counts are first taken from a
// resting count r per channel: the synapses read n - r through an snn.requant
// of multiplier 1 and shift 0 into signed counts wide enough to hold every
// difference. Which sparsity each layer takes (spread=measured), and the
// resting counts, follow the measured errors on the documented random
// calibration, so only their structure and the budget are checked here.
builtin.module {
  func.func @main(%x: tensor<2x8xf32>) -> tensor<2x3xf32> {
    %w1 = arith.constant dense<[[0.5, -0.25, 0.125, 1.0], [-0.5, 0.75, 0.25, -1.0], [0.3, 0.1, -0.2, 0.4], [-0.6, 0.2, 0.9, -0.1], [0.05, -0.7, 0.35, 0.15], [0.8, 0.45, -0.55, 0.6], [-0.15, -0.35, 0.65, -0.85], [0.25, 0.95, -0.45, 0.05]]> : tensor<8x4xf32>
    %h = nn.matmul %x, %w1 {nscc.layer = "fc1"} : (tensor<2x8xf32>, tensor<8x4xf32>) -> tensor<2x4xf32>
    %r = nn.relu %h : (tensor<2x4xf32>) -> tensor<2x4xf32>
    %w2 = arith.constant dense<[[0.5, -0.5, 0.25, 0.1], [1.0, 0.75, -0.25, -0.3], [-0.125, 0.5, 0.375, 0.6], [0.625, -1.0, 0.875, -0.2]]> : tensor<4x4xf32>
    %h2 = nn.matmul %r, %w2 {nscc.layer = "fc2"} : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
    %r2 = nn.relu %h2 : (tensor<2x4xf32>) -> tensor<2x4xf32>
    %w3 = arith.constant dense<[[0.5, -0.5, 0.25], [1.0, 0.75, -0.25], [-0.125, 0.5, 0.375], [0.625, -1.0, 0.875]]> : tensor<4x3xf32>
    %y = nn.matmul %r2, %w3 {nscc.layer = "head"} : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
    func.return %y : tensor<2x3xf32>
  }
}

// The knapsack keeps at least the target's zeros in all; no threshold tuning at firing-rate 1.
// CHECK:      nscc: sparsity-pruning (unstructured)
// CHECK:      weight sparsity {{0\.[5-9][0-9]*}}; spikes x1.000,
// CHECK-LABEL: func.func @main
// CHECK:      %[[N1:.*]] = snn.encode %x, %{{.*}} : (tensor<2x8xf32>, tensor<f32>) -> !snn.counts<2x8, 15, signed>
// CHECK-NEXT: %[[W1:.*]] = nn.weight "fc1.weight.q8.pruned" : tensor<8x4xi8>
// CHECK-NEXT: %[[A1:.*]] = snn.synapse %[[N1]], %[[W1]] {nscc.layer = "fc1", nscc.weight_bits = 8 : i64{{.*}}, nscc.weight_sparsity = {{[0-9.e+-]+}} : f64, acc_bits = 32 : i64} : (!snn.counts<2x8, 15, signed>, tensor<8x4xi8>) -> tensor<2x4xi32>
// CHECK-NEXT: %[[S1:.*]] = nn.weight "fc1.scale.tuned" : tensor<4xf32>
// CHECK-NEXT: %[[B1:.*]] = nn.weight "fc1.bias.tuned" : tensor<4xf32>
// CHECK-NEXT: %{{.*}} = snn.decode %[[A1]], %[[S1]], %[[B1]] {axis = 1 : i64} : (tensor<2x4xi32>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
// CHECK:      nn.weight "fc2.weight.q8.pruned" : tensor<4x4xi8>
// CHECK-NEXT: snn.synapse {{.*}}nscc.weight_sparsity = {{[0-9.e+-]+}} : f64{{.*}} : (!snn.counts<2x4, 15>, tensor<4x4xi8>) -> tensor<2x4xi32>
// CHECK:      nn.weight "head.weight.q8.pruned" : tensor<4x3xi8>
// CHECK-NEXT: snn.synapse {{.*}}nscc.weight_sparsity = {{[0-9.e+-]+}} : f64{{.*}} : (!snn.counts<2x4, 15>, tensor<4x3xi8>) -> tensor<2x3xi32>
// CHECK-NOT:  snn.requant

// Whole input rows: 4 of fc1's 8 and 2 of fc2's 4 (exactly 0.5 each); the head is kept.
// ROWS:      nscc: sparsity-pruning (rows)
// ROWS:      fc1 {{ +}}0.000 -> {{ *}}0.500
// ROWS-NEXT: fc2 {{ +}}0.000 -> {{ *}}0.500
// ROWS-NEXT: head {{ +}}0.000 -> {{ *}}0.000
// ROWS:      spikes x{{(0\.[0-9]+|1\.000)}},
// ROWS-LABEL: func.func @main
// ROWS:      %[[N1:.*]] = snn.encode %x, %{{.*}} : (tensor<2x8xf32>, tensor<f32>) -> !snn.counts<2x8, 15, signed>
// ROWS-NEXT: %[[M1:.*]] = nn.weight "fc1.rest_mult" : tensor<8xi32>
// ROWS-NEXT: %[[R1:.*]] = nn.weight "fc1.rest" : tensor<8xi32>
// ROWS-NEXT: %[[C1:.*]] = snn.requant %[[N1]], %[[M1]], %[[R1]] {shift = 0 : i64, axis = 1 : i64} : (!snn.counts<2x8, 15, signed>, tensor<8xi32>, tensor<8xi32>) -> !snn.counts<2x8, {{[0-9]+}}, signed>
// ROWS-NEXT: %[[W1:.*]] = nn.weight "fc1.weight.q8.pruned" : tensor<8x4xi8>
// ROWS-NEXT: snn.synapse %[[C1]], %[[W1]] {{{.*}}nscc.weight_sparsity = 5.000000e-01 : f64{{.*}}}
// ROWS:      nn.weight "fc2.weight.q8.pruned" : tensor<4x4xi8>
// ROWS-NEXT: snn.synapse {{.*}}nscc.weight_sparsity = 5.000000e-01 : f64{{.*}} : (!snn.counts<2x4, {{[0-9]+}}, signed>, tensor<4x4xi8>) -> tensor<2x4xi32>
// ROWS:      %[[WH:.*]] = nn.weight "head.weight.q8" : tensor<4x3xi8>
// ROWS-NEXT: snn.synapse %{{.*}}, %[[WH]] {{{.*}}nscc.weight_sparsity = 0.000000e+00 : f64{{.*}}}
