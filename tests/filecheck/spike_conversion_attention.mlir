// RUN: nscc opt %s -p spike-conversion 2>/dev/null | tee %t | filecheck %s
// RUN: filecheck %s --input-file %t --check-prefix=GONE
// RUN: nscc opt %s -p 'spike-conversion{attention=float}' 2>/dev/null | filecheck %s --check-prefix=FLOAT
// RUN: nscc opt %s -p 'spike-conversion{attention-levels=15}' 2>/dev/null | filecheck %s --check-prefix=D15

// spike-conversion makes softmax attention spiking (its default attention=spiking):
// q, k and v are encoded as signed counts at attention-levels (31) with thresholds
// per feature (nscc.quant.attention), k and v before Llama's repeat_kv
// (reshape, broadcast, reshape), so once per key-value head; snn.attention
// multiplies counts by counts and takes the integer softmax, and a decode by v's
// thresholds times 2^-16 gives the float result back.
builtin.module {
  func.func @main(%x: tensor<1x4x8xf32>) -> tensor<1x2x4x4xf32> {
    %h = nn.reshape %x : (tensor<1x4x8xf32>) -> tensor<1x4x2x4xf32>
    %q = nn.transpose %h {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x4x2x4xf32>) -> tensor<1x2x4x4xf32>
    %kv = nn.slice %q {starts = array<i64: 0>, ends = array<i64: 1>, axes = array<i64: 1>, steps = array<i64: 1>} : (tensor<1x2x4x4xf32>) -> tensor<1x1x4x4xf32>
    %r1 = nn.reshape %kv : (tensor<1x1x4x4xf32>) -> tensor<1x1x1x4x4xf32>
    %b = nn.broadcast %r1 : (tensor<1x1x1x4x4xf32>) -> tensor<1x1x2x4x4xf32>
    %k = nn.reshape %b : (tensor<1x1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
    %a = nn.attention %q, %k, %k {scale = 5.000000e-01 : f64, causal, nscc.layer = "attn"} : (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
    func.return %a : tensor<1x2x4x4xf32>
  }
}

// CHECK:      %[[QT:.*]] = nn.weight "attn.q_theta" : tensor<4xf32>
// CHECK-NEXT: %[[QN:.*]] = snn.encode %q, %[[QT]] : (tensor<1x2x4x4xf32>, tensor<4xf32>) -> !snn.counts<1x2x4x4, 31, signed>
// CHECK-NEXT: %[[KT:.*]] = nn.weight "attn.k_theta" : tensor<4xf32>
// CHECK-NEXT: %[[KN:.*]] = snn.encode %kv, %[[KT]] : (tensor<1x1x4x4xf32>, tensor<4xf32>) -> !snn.counts<1x1x4x4, 31, signed>
// CHECK-NEXT: %[[VT:.*]] = nn.weight "attn.v_theta" : tensor<4xf32>
// CHECK-NEXT: %[[VN:.*]] = snn.encode %kv, %[[VT]] : (tensor<1x1x4x4xf32>, tensor<4xf32>) -> !snn.counts<1x1x4x4, 31, signed>
// CHECK-NEXT: %[[A:.*]] = snn.attention %[[QN]], %[[KN]], %[[VN]] {nscc.layer = "attn", multiplier = {{[0-9]+}} : i64, shift = {{[0-9]+}} : i64, frac_bits = 16 : i64, causal}
// CHECK-SAME: -> tensor<1x2x4x4xi64>
// CHECK-NEXT: %[[S:.*]] = nn.weight "attn.scale" : tensor<4xf32>
// CHECK-NEXT: %[[Y:.*]] = snn.decode %[[A]], %[[S]] {axis = 3 : i64} : (tensor<1x2x4x4xi64>, tensor<4xf32>) -> tensor<1x2x4x4xf32>
// CHECK-NEXT: func.return %[[Y]]
// GONE-NOT:   = nn.attention
// GONE-NOT:   = nn.broadcast

// FLOAT:      nn.attention %q, %k, %k
// FLOAT-NOT:  snn.attention

// D15: !snn.counts<1x2x4x4, 15, signed>
// D15: snn.attention
