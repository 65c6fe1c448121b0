// RUN: nscc opt %s -p raise-attention,linear-attention 2>&1 | filecheck %s
// RUN: nscc opt %s -p 'raise-attention,linear-attention{feature=elu1 decay=0.9 normalize=false measure=false}' 2>&1 | filecheck %s --check-prefix=OPTS
// RUN: not nscc opt %s -p linear-attention 2>&1 | filecheck %s --check-prefix=UNRAISED

// linear-attention rewrites softmax attention (nn.attention, from
// raise-attention: the attention here is written out as exporters write it)
// into nn.linear_attention with a feature map (relu or elu + 1), a decay and a
// normalisation, keeping causality. Attention with a padding mask is left as
// it is and said so. The pass measures the change of the outputs on the
// calibration inputs (here the documented random default) and prints it,
// unless measure=false. Without raise-attention first it is an error.
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

// CHECK:      nscc: note: linear-attention left attention with a padding mask in 'enc.attn'
// CHECK:      nscc: warning: no --calib data; calibrating on 8 random batches
// CHECK-NEXT: nscc: note: linear-attention changed the model's function: relative output error {{[0-9.e+-]+}}, top-1 agreement {{[0-9.]+}}%, KL {{[0-9.e+-]+}} with softmax attention (on 8 calibration batches)
// CHECK-LABEL: func.func @main
// CHECK:      %[[K:.*]] = nn.transpose %kt {perm = array<i64: 0, 1, 3, 2>} : (tensor<1x2x4x3xf32>) -> tensor<1x2x3x4xf32>
// CHECK-NEXT: %[[O:.*]] = nn.linear_attention %q, %[[K]], %v {{{.*}}feature = "relu", decay = 1.000000e+00 : f64, normalize{{( = 1 : i64)?}}, causal{{( = 1 : i64)?}}{{.*}}} : (tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>) -> tensor<1x2x3x4xf32>
// CHECK-NOT:  nn.softmax
// CHECK:      %[[K2:.*]] = nn.transpose %kt
// CHECK-NEXT: %[[O2:.*]] = nn.attention %q, %[[K2]], %v, %pad {{{.*}}scale = 5.000000e-01 : f64{{(, causal = 0 : i64)?}}{{.*}}} : (tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>, tensor<1x1x1x3xf32>) -> tensor<1x2x3x4xf32>
// CHECK-NEXT: func.return %[[O]], %[[O2]]
// CHECK-NOT:  nn.matmul

// OPTS-NOT:  linear-attention changed the model's function
// OPTS-NOT:  no --calib data
// OPTS:      nn.linear_attention %q, %{{.*}}, %v {{{.*}}feature = "elu1", decay = 9.000000e-01 : f64{{(, normalize = 0 : i64)?}}, causal{{( = 1 : i64)?}}{{.*}}} :

// UNRAISED: nscc: error: linear-attention: the module's attention is not raised{{.*}}raise-attention,linear-attention
