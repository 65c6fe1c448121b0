// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for snn.lif, snn.recurrent_lif and snn.leaky_integrate, one case per `// -----` section, each with the verifier's message.

// -----
// a parameter per neuron, or one
builtin.module {
  func.func @main(%i: tensor<4x3xi32>, %d: tensor<2xi32>, %t: tensor<1xi32>) -> !snn.counts<4x3, 1> {
    %0 = snn.lif %i, %d, %t, %t : (tensor<4x3xi32>, tensor<2xi32>, tensor<1xi32>, tensor<1xi32>) -> !snn.counts<4x3, 1>
    func.return %0 : !snn.counts<4x3, 1>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.lif: decay must be a scalar or have one value per neuron (3), got shape (2,)

// -----
// i32 parameters
builtin.module {
  func.func @main(%i: tensor<4x3xi32>, %d: tensor<1xi32>, %t: tensor<1xi64>) -> !snn.counts<4x3, 1> {
    %0 = snn.lif %i, %d, %t, %d : (tensor<4x3xi32>, tensor<1xi32>, tensor<1xi64>, tensor<1xi32>) -> !snn.counts<4x3, 1>
    func.return %0 : !snn.counts<4x3, 1>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.lif: threshold must be an i32 tensor, got tensor<1xi64>

// -----
// one spike per step
builtin.module {
  func.func @main(%i: tensor<4x3xi32>, %d: tensor<1xi32>) -> !snn.counts<4x3, 2> {
    %0 = snn.lif %i, %d, %d, %d : (tensor<4x3xi32>, tensor<1xi32>, tensor<1xi32>, tensor<1xi32>) -> !snn.counts<4x3, 2>
    func.return %0 : !snn.counts<4x3, 2>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.lif: the result is one unsigned spike per step and neuron: !snn.counts<T x S, 1>

// -----
// a current in i32
builtin.module {
  func.func @main(%i: tensor<4x3xi64>, %d: tensor<1xi32>) -> tensor<4x3xi32> {
    %0 = snn.leaky_integrate %i, %d : (tensor<4x3xi64>, tensor<1xi32>) -> tensor<4x3xi32>
    func.return %0 : tensor<4x3xi32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.leaky_integrate: fixed-point values are i32 tensors, got tensor<4x3xi64>

// -----
// the same shape out
builtin.module {
  func.func @main(%i: tensor<4x3xi32>, %d: tensor<1xi32>) -> tensor<4x2xi32> {
    %0 = snn.leaky_integrate %i, %d : (tensor<4x3xi32>, tensor<1xi32>) -> tensor<4x2xi32>
    func.return %0 : tensor<4x2xi32>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.leaky_integrate: result shape must equal input shape

// -----
// recurrent weights: one row per neuron, i32
builtin.module {
  func.func @main(%i: tensor<4x3xi32>, %w: tensor<3x2xi32>, %d: tensor<1xi32>) -> !snn.counts<4x3, 1> {
    %0 = snn.recurrent_lif %i, %w, %d, %d, %d : (tensor<4x3xi32>, tensor<3x2xi32>, tensor<1xi32>, tensor<1xi32>, tensor<1xi32>) -> !snn.counts<4x3, 1>
    func.return %0 : !snn.counts<4x3, 1>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.recurrent_lif: the recurrent weights are tensor<3x3xi32>, got tensor<3x2xi32>

// -----
// one axis of neurons
builtin.module {
  func.func @main(%i: tensor<4x2x3xi32>, %w: tensor<6x6xi32>, %d: tensor<1xi32>) -> !snn.counts<4x2x3, 1> {
    %0 = snn.recurrent_lif %i, %w, %d, %d, %d : (tensor<4x2x3xi32>, tensor<6x6xi32>, tensor<1xi32>, tensor<1xi32>, tensor<1xi32>) -> !snn.counts<4x2x3, 1>
    func.return %0 : !snn.counts<4x2x3, 1>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.recurrent_lif: the input is [T, N]: time, then one axis of neurons
