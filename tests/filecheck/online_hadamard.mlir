// RUN: nscc opt %s -p online-hadamard | filecheck %s
// RUN: nscc opt %s -p 'online-hadamard{layers="*up"}' | filecheck %s --check-prefix=ONLY
// RUN: nscc opt %s -p 'online-hadamard,integer-islands' | filecheck %s --check-prefix=FIXED

// online-hadamard rotates the input of the layers it is given (by default every linear
// layer) by a randomised Hadamard matrix A (x) B, here 12 = 12 x 1 (a Paley block),
// inserted as nn.hadamard, and folds the transpose into a new weight: the same function,
// with an input that quantizes to few levels far better. Two layers reading one input
// share one rotation; the tied weight %w keeps its other use. A ReLU's output (never
// negative) is left alone. integer-islands makes the rotation snn.fixed_hadamard: the
// factors as i8, 1 / sqrt(12) as 37837 / 2^17.
builtin.module {
  func.func @main(%x: tensor<2x12xf32>) -> (tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>) {
    %w = arith.constant dense<1.000000e+00> : tensor<12x4xf32>
    %y = nn.matmul %x, %w {nscc.layer = "attn.o_proj"} : (tensor<2x12xf32>, tensor<12x4xf32>) -> tensor<2x4xf32>
    %z = nn.matmul %x, %w {nscc.layer = "mlp.up"} : (tensor<2x12xf32>, tensor<12x4xf32>) -> tensor<2x4xf32>
    %r = nn.relu %x : (tensor<2x12xf32>) -> tensor<2x12xf32>
    %v = nn.matmul %r, %w {nscc.layer = "fc"} : (tensor<2x12xf32>, tensor<12x4xf32>) -> tensor<2x4xf32>
    func.return %y, %z, %v : tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>
  }
}
// CHECK:      %[[A:.*]] = nn.weight "attn.o_proj.hadamard_a" : tensor<12x12xi8>
// CHECK-NEXT: %[[B:.*]] = nn.weight "attn.o_proj.hadamard_b" : tensor<1x1xi8>
// CHECK-NEXT: %[[R:.*]] = nn.hadamard %x, %[[A]], %[[B]] : (tensor<2x12xf32>, tensor<12x12xi8>, tensor<1x1xi8>) -> tensor<2x12xf32>
// CHECK-NEXT: %[[W:.*]] = nn.weight "attn.o_proj.weight_rotated" : tensor<12x4xf32>
// CHECK-NEXT: %y = nn.matmul %[[R]], %[[W]] {nscc.layer = "attn.o_proj"}
// CHECK-NEXT: %[[W2:.*]] = nn.weight "mlp.up.weight_rotated" : tensor<12x4xf32>
// CHECK-NEXT: %z = nn.matmul %[[R]], %[[W2]] {nscc.layer = "mlp.up"}
// CHECK-NOT:  nn.hadamard
// CHECK:      %v = nn.matmul %r, %w {nscc.layer = "fc"}

// ONLY-NOT: attn.o_proj.hadamard
// ONLY:     nn.hadamard
// ONLY-NOT: attn.o_proj.hadamard

// FIXED:      %[[X:.*]] = snn.fixed_encode %x {frac_bits = 16 : i64}
// FIXED:      snn.fixed_hadamard %[[X]], %{{.*}}, %{{.*}} {multiplier = 37837 : i64, shift = 17 : i64} : (tensor<2x12xi32>, tensor<12x12xi8>, tensor<1x1xi8>) -> tensor<2x12xi32>
