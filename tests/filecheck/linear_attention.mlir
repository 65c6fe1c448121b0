// RUN: nscc opt %s -p 'raise-attention,linear-attention{fit-steps=5}' 2>&1 | filecheck %s
// RUN: nscc opt %s -p 'raise-attention,linear-attention{feature=elu1 decay=0.9 normalize=false measure=false}' 2>&1 | filecheck %s --check-prefix=OPTS
// RUN: nscc opt %s -p 'raise-attention,linear-attention{feature=relu softmax-layers=1 measure=false}' 2>&1 | filecheck %s --check-prefix=HYBRID
// RUN: nscc opt %s -p 'raise-attention,linear-attention{fit-steps=5 distill-steps=4 measure=false}' 2>&1 | filecheck %s --check-prefix=DISTILL
// RUN: nscc opt %s -p 'raise-attention,linear-attention{fit-steps=5 window=1 sinks=1 measure=false}' 2>&1 | filecheck %s --check-prefix=WINDOW
// RUN: not nscc opt %s -p 'raise-attention,linear-attention{feature=relu window=2}' 2>&1 | filecheck %s --check-prefix=WINDOW-RELU
// RUN: not nscc opt %s -p 'raise-attention,linear-attention{feature=relu state-budget=100}' 2>&1 | filecheck %s --check-prefix=BUDGET
// RUN: not nscc opt %s -p linear-attention 2>&1 | filecheck %s --check-prefix=UNRAISED

// linear-attention rewrites softmax attention (nn.attention, from
// raise-attention: the attention here is written out as exporters write it)
// into nn.linear_attention. By default (feature=hedgehog) q and k first go
// through a feature map per layer, nn.feature_map, whose weights are fitted on
// the calibration inputs (here the documented random default) so that linear
// attention follows the softmax weights; the pass prints, per layer, what it
// chose, the output error it measured (and the untrained relu form's), and the
// decoding state. A padding mask carries over (enc.attn: not causal, the mask
// an operand). feature=relu | elu1 is the untrained rewrite. softmax-layers=N
// keeps softmax attention in the N layers whose linear form moves the model's
// output most (measured with each layer alone linear; only the first output
// counts, so enc.attn here moves nothing);
// state-budget=B keeps as many as fit B bytes of decoding state and refuses a
// budget nothing fits. distill-steps=N then tunes the fitted maps end to end
// against the softmax model's outputs and replaces them by the tuned weights
// (new names: stored arrays are frozen). window=W sinks=S makes causal layers
// sliding-window hybrids (nn.window_attention: softmax over the last W keys and the
// first S, the fitted linear attention for the others, weighed by a fitted factor per
// head; the keys get their own map, one per key-value head); the padded encoder layer
// stays plain linear. Without raise-attention first it is an error.
builtin.module {
  func.func @main(%q: tensor<1x2x3x4xf32>, %kt: tensor<1x2x4x3xf32>, %v: tensor<1x2x3x4xf32>, %pad: tensor<1x1x1x3xf32>) -> (tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>) {
    %s = nn.matmul %q, %kt : (tensor<1x2x3x4xf32>, tensor<1x2x4x3xf32>) -> tensor<1x2x3x3xf32>
    %c = arith.constant dense<2.000000e+00> : tensor<f32>
    %d = nn.div %s, %c : (tensor<1x2x3x3xf32>, tensor<f32>) -> tensor<1x2x3x3xf32>
    %m = arith.constant dense<[[0.000000e+00, -1.000000e+04, -1.000000e+04], [0.000000e+00, 0.000000e+00, -1.000000e+04], [0.000000e+00, 0.000000e+00, 0.000000e+00]]> : tensor<3x3xf32>
    %a = nn.add %d, %m : (tensor<1x2x3x3xf32>, tensor<3x3xf32>) -> tensor<1x2x3x3xf32>
    %p = nn.softmax %a {axis = 3 : i64} : (tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
    %o = nn.matmul %p, %v {nscc.layer = "dec.attn"} : (tensor<1x2x3x3xf32>, tensor<1x2x3x4xf32>) -> tensor<1x2x3x4xf32>
    %s2 = nn.matmul %q, %kt : (tensor<1x2x3x4xf32>, tensor<1x2x4x3xf32>) -> tensor<1x2x3x3xf32>
    %d2 = nn.div %s2, %c : (tensor<1x2x3x3xf32>, tensor<f32>) -> tensor<1x2x3x3xf32>
    %a2 = nn.add %d2, %pad : (tensor<1x2x3x3xf32>, tensor<1x1x1x3xf32>) -> tensor<1x2x3x3xf32>
    %p2 = nn.softmax %a2 {axis = 3 : i64} : (tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
    %o2 = nn.matmul %p2, %v {nscc.layer = "enc.attn"} : (tensor<1x2x3x3xf32>, tensor<1x2x3x4xf32>) -> tensor<1x2x3x4xf32>
    func.return %o, %o2 : tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>
  }
}

// CHECK:      nscc: warning: no --calib data; calibrating on 8 random batches
// CHECK-NEXT: nscc: note: linear-attention: dec.attn: linear, state 0.6 KiB at 2048 positions; linear-attention output error {{[0-9.]+}} (relu {{[0-9.]+}})
// CHECK-NEXT: nscc: note: linear-attention: enc.attn: linear, state 0.6 KiB at 2048 positions; linear-attention output error {{[0-9.]+}} (relu {{[0-9.]+}})
// CHECK-NEXT: nscc: note: linear-attention: 2 layer(s) linear, 0 softmax (all linear); decoding state 1.2 KiB at 2048 positions, against 64.0 KiB of KV cache with softmax everywhere
// CHECK-NEXT: nscc: note: linear-attention: hint: window=16 keeps softmax over each query's last 16 keys and first 4 (sinks)
// CHECK-NEXT: nscc: note: linear-attention changed the model's function: relative output error {{[0-9.e+-]+}}, top-1 agreement {{[0-9.]+}}%, KL {{[0-9.e+-]+}} with softmax attention (on 8 calibration batches)
// CHECK-LABEL: func.func @main
// CHECK:      %[[K:.*]] = nn.transpose %kt {perm = array<i64: 0, 1, 3, 2>} : (tensor<1x2x4x3xf32>) -> tensor<1x2x3x4xf32>
// CHECK-NEXT: %[[W:.*]] = nn.weight "dec.attn.feature_map" : tensor<2x4x4xf32>
// CHECK-NEXT: %[[FQ:.*]] = nn.feature_map %q, %[[W]] {nscc.layer = "dec.attn"} : (tensor<1x2x3x4xf32>, tensor<2x4x4xf32>) -> tensor<1x2x3x8xf32>
// CHECK-NEXT: %[[FK:.*]] = nn.feature_map %[[K]], %[[W]] {nscc.layer = "dec.attn"}
// CHECK-NEXT: %[[O:.*]] = nn.linear_attention %[[FQ]], %[[FK]], %v {{{.*}}feature = "relu", decay = 1.000000e+00 : f64, normalize, causal} : (tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>, tensor<1x2x3x4xf32>) -> tensor<1x2x3x4xf32>
// CHECK-NOT:  nn.softmax
// CHECK:      %[[W2:.*]] = nn.weight "enc.attn.feature_map"
// CHECK:      %[[O2:.*]] = nn.linear_attention %{{.*}}, %{{.*}}, %v, %pad {{{.*}}normalize} : (tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>, tensor<1x2x3x4xf32>, tensor<1x1x1x3xf32>) -> tensor<1x2x3x4xf32>
// CHECK-NEXT: func.return %[[O]], %[[O2]]
// CHECK-NOT:  nn.matmul

// OPTS:      nscc: note: linear-attention: dec.attn: linear, state 0.3 KiB at 2048 positions; linear-attention output error {{[0-9.]+}}
// OPTS-NOT:  linear-attention changed the model's function
// OPTS:      nn.linear_attention %q, %{{.*}}, %v {{{.*}}feature = "elu1", decay = 9.000000e-01 : f64{{(, normalize = 0 : i64)?}}, causal{{( = 1 : i64)?}}{{.*}}} :

// HYBRID:      nscc: note: linear-attention: dec.attn: softmax, KV cache 32.0 KiB at 2048 positions; linear-attention output error {{[0-9.]+}}; the model's output moves {{[0-9.e+-]+}} (mse) with this layer alone linear
// HYBRID-NEXT: nscc: note: linear-attention: enc.attn: linear, state 0.3 KiB at 2048 positions; linear-attention output error {{[0-9.]+}}; the model's output moves 0 (mse) with this layer alone linear
// HYBRID-NEXT: nscc: note: linear-attention: 1 layer(s) linear, 1 softmax (milp (exact)); decoding state 32.3 KiB at 2048 positions, against 64.0 KiB of KV cache with softmax everywhere
// HYBRID:      nn.attention %q
// HYBRID:      nn.linear_attention %q, %{{.*}}, %v, %pad
// HYBRID-NOT:  nn.feature_map

// DISTILL:      nscc: note: linear-attention: distillation tuned 2 weights in 4 steps ({{[0-9]+}} s): held-out mse {{[0-9.e+-]+}} -> {{[0-9.e+-]+}}
// DISTILL:      %[[W:.*]] = nn.weight "dec.attn.feature_map_1" : tensor<2x4x4xf32>
// DISTILL-NEXT: nn.feature_map %q, %[[W]]
// DISTILL:      nn.weight "enc.attn.feature_map_1"
// DISTILL-NOT:  nn.weight "dec.attn.feature_map"

// BUDGET: nscc: error: linear-attention: no choice of softmax layers fits a state budget of 100 bytes (hint: all-linear attention needs {{[0-9]+}} bytes; raise state-budget)

// UNRAISED: nscc: error: linear-attention: the module's attention is not raised{{.*}}raise-attention,linear-attention

// WINDOW:      nscc: note: linear-attention: dec.attn: window 1, 1 sinks + linear, state 0.7 KiB at 2048 positions; linear-attention output error {{[0-9.]+}} (relu {{[0-9.]+}})
// WINDOW-NEXT: nscc: note: linear-attention: enc.attn: linear, state 0.6 KiB at 2048 positions
// WINDOW-NOT:  hint: window
// WINDOW:      %[[K:.*]] = nn.transpose %kt
// WINDOW-NEXT: %[[W:.*]] = nn.weight "dec.attn.feature_map" : tensor<2x4x4xf32>
// WINDOW-NEXT: %[[WK:.*]] = nn.weight "dec.attn.key_feature_map" : tensor<2x4x4xf32>
// WINDOW-NEXT: %[[FQ:.*]] = nn.feature_map %q, %[[W]]
// WINDOW-NEXT: %[[FK:.*]] = nn.feature_map %[[K]], %[[WK]]
// WINDOW-NEXT: %[[R:.*]] = nn.weight "dec.attn.window_factor" : tensor<2xf32>
// WINDOW-NEXT: %[[O:.*]] = nn.window_attention %q, %[[K]], %v, %[[FQ]], %[[FK]], %[[R]] {{{.*}}scale = 5.000000e-01 : f64, window = 1 : i64, sinks = 1 : i64} : (tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>, tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>, tensor<2xf32>) -> tensor<1x2x3x4xf32>
// WINDOW:      nn.linear_attention %{{.*}}, %{{.*}}, %v, %pad
// WINDOW-NOT:  nn.window_attention

// WINDOW-RELU: nscc: error: linear-attention: window needs feature=hedgehog
