// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for nn.linear_attention_step, one case per `// -----` section, each with the verifier's message.

// -----
// q, k and v
builtin.module {
  func.func @main(%q: tensor<2x3x4xf32>, %k: tensor<2x3x5xf32>, %s: tensor<2x4x4xf64>, %n: tensor<2x4xf64>) -> (tensor<2x3x4xf32>, tensor<2x4x4xf64>, tensor<2x4xf64>) {
    %0, %1, %2 = nn.linear_attention_step %q, %k, %q, %s, %n {feature = "relu", decay = 9.000000e-01 : f64, normalize} : (tensor<2x3x4xf32>, tensor<2x3x5xf32>, tensor<2x3x4xf32>, tensor<2x4x4xf64>, tensor<2x4xf64>) -> (tensor<2x3x4xf32>, tensor<2x4x4xf64>, tensor<2x4xf64>)
    func.return %0, %1, %2 : tensor<2x3x4xf32>, tensor<2x4x4xf64>, tensor<2x4xf64>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.linear_attention_step: q (2, 3, 4), k (2, 3, 5) and v (2, 3, 4) disagree

// -----
// state shape
builtin.module {
  func.func @main(%q: tensor<2x3x4xf32>, %k: tensor<2x3x4xf32>, %s: tensor<2x4x3xf64>, %n: tensor<2x4xf64>) -> (tensor<2x3x4xf32>, tensor<2x4x3xf64>, tensor<2x4xf64>) {
    %0, %1, %2 = nn.linear_attention_step %q, %k, %q, %s, %n {feature = "relu", decay = 9.000000e-01 : f64, normalize} : (tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x4x3xf64>, tensor<2x4xf64>) -> (tensor<2x3x4xf32>, tensor<2x4x3xf64>, tensor<2x4xf64>)
    func.return %0, %1, %2 : tensor<2x3x4xf32>, tensor<2x4x3xf64>, tensor<2x4xf64>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.linear_attention_step: state must be [..., dk, dv] and norm [..., dk]

// -----
// new state type
builtin.module {
  func.func @main(%q: tensor<2x3x4xf32>, %k: tensor<2x3x4xf32>, %s: tensor<2x4x4xf64>, %n: tensor<2x4xf64>) -> (tensor<2x3x4xf32>, tensor<2x4x4xf32>, tensor<2x4xf64>) {
    %0, %1, %2 = nn.linear_attention_step %q, %k, %q, %s, %n {feature = "relu", decay = 9.000000e-01 : f64, normalize} : (tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x4x4xf64>, tensor<2x4xf64>) -> (tensor<2x3x4xf32>, tensor<2x4x4xf32>, tensor<2x4xf64>)
    func.return %0, %1, %2 : tensor<2x3x4xf32>, tensor<2x4x4xf32>, tensor<2x4xf64>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.linear_attention_step: new state types must equal the old

// -----
// result shape
builtin.module {
  func.func @main(%q: tensor<2x3x4xf32>, %k: tensor<2x3x4xf32>, %s: tensor<2x4x4xf64>, %n: tensor<2x4xf64>) -> (tensor<2x3x5xf32>, tensor<2x4x4xf64>, tensor<2x4xf64>) {
    %0, %1, %2 = nn.linear_attention_step %q, %k, %q, %s, %n {feature = "relu", decay = 9.000000e-01 : f64, normalize} : (tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x4x4xf64>, tensor<2x4xf64>) -> (tensor<2x3x5xf32>, tensor<2x4x4xf64>, tensor<2x4xf64>)
    func.return %0, %1, %2 : tensor<2x3x5xf32>, tensor<2x4x4xf64>, tensor<2x4xf64>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.linear_attention_step: result must be v's shape

// -----
// decay
builtin.module {
  func.func @main(%q: tensor<2x3x4xf32>, %k: tensor<2x3x4xf32>, %s: tensor<2x4x4xf64>, %n: tensor<2x4xf64>) -> (tensor<2x3x4xf32>, tensor<2x4x4xf64>, tensor<2x4xf64>) {
    %0, %1, %2 = nn.linear_attention_step %q, %k, %q, %s, %n {feature = "relu", decay = 1.500000e+00 : f64, normalize} : (tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x4x4xf64>, tensor<2x4xf64>) -> (tensor<2x3x4xf32>, tensor<2x4x4xf64>, tensor<2x4xf64>)
    func.return %0, %1, %2 : tensor<2x3x4xf32>, tensor<2x4x4xf64>, tensor<2x4xf64>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.linear_attention_step: decay must be in (0, 1]

// -----
// feature
builtin.module {
  func.func @main(%q: tensor<2x3x4xf32>, %k: tensor<2x3x4xf32>, %s: tensor<2x4x4xf64>, %n: tensor<2x4xf64>) -> (tensor<2x3x4xf32>, tensor<2x4x4xf64>, tensor<2x4xf64>) {
    %0, %1, %2 = nn.linear_attention_step %q, %k, %q, %s, %n {feature = "tanh", decay = 9.000000e-01 : f64, normalize} : (tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x4x4xf64>, tensor<2x4xf64>) -> (tensor<2x3x4xf32>, tensor<2x4x4xf64>, tensor<2x4xf64>)
    func.return %0, %1, %2 : tensor<2x3x4xf32>, tensor<2x4x4xf64>, tensor<2x4xf64>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: nn.linear_attention_step: feature must be one of relu, elu1
