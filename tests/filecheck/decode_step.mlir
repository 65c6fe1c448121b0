// RUN: nscc opt %s -p decode-step | filecheck %s
// RUN: not nscc opt %s -p 'decode-step{token-input=nope}' 2>&1 | filecheck %s --check-prefix=ERR

// decode-step turns the whole-sequence program (here 4 positions) into its
// one-token step function: every sequence axis becomes 1, the positional
// table is read at the new `position` argument, and each linear attention
// (float nn.linear_attention, spiking snn.linear_attention) becomes its step
// op, whose state (S, z) comes in as arguments and goes out as results, all
// marked nscc.state. The module records the positions it was compiled for.
builtin.module {
  func.func @main(%ids: tensor<1x4xi64> {nscc.name = "ids"}) -> (tensor<1x2x4x4xf32> {nscc.name = "out"}, tensor<1x2x4x4xi64> {nscc.name = "num"}, tensor<1x2x4xi64> {nscc.name = "den"}) {
    %emb = arith.constant dense<5.000000e-01> : tensor<16x8xf32>
    %pos = arith.constant dense<2.500000e-01> : tensor<4x8xf32>
    %e = nn.gather %emb, %ids {axis = 0 : i64} : (tensor<16x8xf32>, tensor<1x4xi64>) -> tensor<1x4x8xf32>
    %x = nn.add %e, %pos : (tensor<1x4x8xf32>, tensor<4x8xf32>) -> tensor<1x4x8xf32>
    %h = nn.reshape %x : (tensor<1x4x8xf32>) -> tensor<1x4x2x4xf32>
    %t = nn.transpose %h {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x4x2x4xf32>) -> tensor<1x2x4x4xf32>
    %a = nn.linear_attention %t, %t, %t {feature = "relu", decay = 9.000000e-01 : f64, normalize, causal, nscc.layer = "attn.float"} : (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
    %th = arith.constant dense<1.000000e-01> : tensor<f32>
    %n = snn.encode %t, %th : (tensor<1x2x4x4xf32>, tensor<f32>) -> !snn.counts<1x2x4x4, 15>
    %num, %den = snn.linear_attention %n, %n, %n {decay_shift = 2 : i64, nscc.layer = "attn.spiking"} : (!snn.counts<1x2x4x4, 15>, !snn.counts<1x2x4x4, 15>, !snn.counts<1x2x4x4, 15>) -> (tensor<1x2x4x4xi64>, tensor<1x2x4xi64>)
    func.return %a, %num, %den : tensor<1x2x4x4xf32>, tensor<1x2x4x4xi64>, tensor<1x2x4xi64>
  }
}

// CHECK:      builtin.module attributes {nscc.decode_length = 4 : i64} {
// CHECK-NEXT:   func.func @main(%ids: tensor<1x1xi64> {nscc.name = "ids"}, %position: tensor<1xi64> {nscc.name = "position", nscc.position},
// CHECK-SAME:     %S: tensor<1x2x4x4xf64> {nscc.name = "attn.float.S", nscc.state = "attn.float.S"}, %z: tensor<1x2x4xf64> {nscc.name = "attn.float.z", nscc.state = "attn.float.z"},
// CHECK-SAME:     %S_1: tensor<1x2x4x4xi64> {nscc.name = "attn.spiking.S", nscc.state = "attn.spiking.S"}, %z_1: tensor<1x2x4xi64> {nscc.name = "attn.spiking.z", nscc.state = "attn.spiking.z"})
// CHECK-SAME:     -> (tensor<1x2x1x4xf32> {nscc.name = "out"}, tensor<1x2x1x4xi64> {nscc.name = "num"}, tensor<1x2x1xi64> {nscc.name = "den"},
// CHECK-SAME:     tensor<1x2x4x4xf64> {nscc.name = "attn.float.S", nscc.state = "attn.float.S"}, tensor<1x2x4xf64> {nscc.name = "attn.float.z", nscc.state = "attn.float.z"},
// CHECK-SAME:     tensor<1x2x4x4xi64> {nscc.name = "attn.spiking.S", nscc.state = "attn.spiking.S"}, tensor<1x2x4xi64> {nscc.name = "attn.spiking.z", nscc.state = "attn.spiking.z"}) {
// CHECK:        %e = nn.gather %emb, %ids {axis = 0 : i64} : (tensor<16x8xf32>, tensor<1x1xi64>) -> tensor<1x1x8xf32>
// CHECK-NEXT:   %[[P:.*]] = nn.gather %pos, %position {axis = 0 : i64} : (tensor<4x8xf32>, tensor<1xi64>) -> tensor<1x8xf32>
// CHECK-NEXT:   %x = nn.add %e, %[[P]] : (tensor<1x1x8xf32>, tensor<1x8xf32>) -> tensor<1x1x8xf32>
// CHECK-NEXT:   %h = nn.reshape %x : (tensor<1x1x8xf32>) -> tensor<1x1x2x4xf32>
// CHECK-NEXT:   %t = nn.transpose %h {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x1x2x4xf32>) -> tensor<1x2x1x4xf32>
// CHECK-NEXT:   %a, %[[S1:.*]], %[[Z1:.*]] = nn.linear_attention_step %t, %t, %t, %S, %z {{{.*}}feature = "relu", decay = 9.000000e-01 : f64, normalize{{.*}}} : (tensor<1x2x1x4xf32>, tensor<1x2x1x4xf32>, tensor<1x2x1x4xf32>, tensor<1x2x4x4xf64>, tensor<1x2x4xf64>) -> (tensor<1x2x1x4xf32>, tensor<1x2x4x4xf64>, tensor<1x2x4xf64>)
// CHECK:        %n = snn.encode %t, %th : (tensor<1x2x1x4xf32>, tensor<f32>) -> !snn.counts<1x2x1x4, 15>
// CHECK-NEXT:   %num, %den, %[[S2:.*]], %[[Z2:.*]] = snn.linear_attention_step %n, %n, %n, %S_1, %z_1 {{{.*}}decay_shift = 2 : i64{{.*}}} : (!snn.counts<1x2x1x4, 15>, !snn.counts<1x2x1x4, 15>, !snn.counts<1x2x1x4, 15>, tensor<1x2x4x4xi64>, tensor<1x2x4xi64>) -> (tensor<1x2x1x4xi64>, tensor<1x2x1xi64>, tensor<1x2x4x4xi64>, tensor<1x2x4xi64>)
// CHECK-NEXT:   func.return %a, %num, %den, %[[S1]], %[[Z1]], %[[S2]], %[[Z2]] :
// CHECK-NOT:  nn.linear_attention {{.*}}causal
// CHECK-NOT:  snn.linear_attention %

// ERR: nscc: error: decoding: the model has no input 'nope' (hint: its inputs are ids)
