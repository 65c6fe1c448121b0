// RUN: nscc opt %s -p bit-allocation 2>&1 | filecheck %s
// RUN: nscc opt %s -p 'bit-allocation{bits=4 widths=4 levels=7 pin-bits=4},spike-conversion' 2>/dev/null | filecheck %s --check-prefix=BUILT

// bit-allocation rewrites nothing structurally: it annotates each linear op
// with the weight width, group size and level count D it chose under an
// average-bits budget (nscc.weight_bits, nscc.group_size, nscc.levels), which
// spike-conversion then builds. Layers matching `pin` (here `head`) keep
// pin-bits (8) and the largest D. It prints its table on stderr. The choice
// of the free layers' widths depends on the measured errors (here on the
// documented random calibration), so only the budget is checked for them.
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

// CHECK:      nscc: warning: no --calib data; calibrating on 8 random batches
// CHECK:      nscc: bit-allocation (kl, measured for every candidate; {{.*}})
// CHECK:      fc1 {{ +}}32 {{.*}} 15 {{.*}}
// CHECK-NEXT: fc2 {{ +}}16 {{.*}} 15 {{.*}}
// CHECK-NEXT: head {{ +}}12 {{ +}}8 {{ +}}- {{ +}}15 {{ +}}pinned {{ +}}12
// CHECK-NEXT: average {{([0-3]\.[0-9]+|4\.000)}} bits/weight (budget 4)
// CHECK-LABEL: func.func @main
// CHECK:      nn.matmul %x, %w1 {nscc.layer = "fc1", nscc.weight_bits = {{[0-9.e+]+}} : {{i64|f64}}, nscc.group_size = 0 : i64, nscc.levels = 15 : i64} : (tensor<2x8xf32>, tensor<8x4xf32>) -> tensor<2x4xf32>
// CHECK:      nn.matmul %r, %w2 {nscc.layer = "fc2", nscc.weight_bits = {{[0-9.e+]+}} : {{i64|f64}}, nscc.group_size = 0 : i64, nscc.levels = 15 : i64}
// CHECK:      nn.matmul %r2, %w3 {nscc.layer = "head", nscc.weight_bits = 8 : i64, nscc.group_size = 0 : i64, nscc.levels = 15 : i64}
// CHECK-NOT:  snn.

// A budget of 4 bits with 4 the only width, D = 7 the only level count, and
// the pinned head at 4 bits: spike-conversion builds every layer as chosen.
// BUILT:      snn.encode %x, %{{.*}} -> !snn.counts<2x8, 7, signed>
// BUILT:      snn.synapse {{.*}}nscc.layer = "fc1", nscc.weight_bits = 4 : i64{{.*}} : (!snn.counts<2x8, 7, signed>, tensor<8x4xi4>) -> tensor<2x4xi32>
// BUILT:      snn.synapse {{.*}}nscc.layer = "fc2", nscc.weight_bits = 4 : i64{{.*}} : (!snn.counts<2x4, 7>, tensor<4x4xi4>) -> tensor<2x4xi32>
// BUILT:      snn.synapse {{.*}}nscc.layer = "head", nscc.weight_bits = 4 : i64{{.*}} : (!snn.counts<2x4, 7>, tensor<4x3xi4>) -> tensor<2x3xi32>
