// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for snn.neuron, one case per `// -----` section, each with the verifier's message.

// -----
// shape
builtin.module {
  func.func @main(%i: tensor<4x3xi32>) -> !snn.counts<4x2, 1> {
    %0 = snn.neuron %i {threshold = 256 : i64, leak_shift = 0 : i64} : (tensor<4x3xi32>) -> !snn.counts<4x2, 1>
    func.return %0 : !snn.counts<4x2, 1>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.neuron: spikes must have the input's shape (time first)

// -----
// coding
builtin.module {
  func.func @main(%i: tensor<4x3xi32>) -> !snn.spikes<4x3, thermometer> {
    %0 = snn.neuron %i {threshold = 256 : i64, leak_shift = 0 : i64} : (tensor<4x3xi32>) -> !snn.spikes<4x3, thermometer>
    func.return %0 : !snn.spikes<4x3, thermometer>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.neuron: a neuron emits rate-coded trains

// -----
// levels
builtin.module {
  func.func @main(%i: tensor<4x3xi32>) -> !snn.counts<4x3, 2> {
    %0 = snn.neuron %i {threshold = 256 : i64, leak_shift = 0 : i64} : (tensor<4x3xi32>) -> !snn.counts<4x3, 2>
    func.return %0 : !snn.counts<4x3, 2>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.neuron: a neuron emits at most one spike per step (levels 1)

// -----
// threshold
builtin.module {
  func.func @main(%i: tensor<4x3xi32>) -> !snn.counts<4x3, 1> {
    %0 = snn.neuron %i {threshold = 0 : i64, leak_shift = 0 : i64} : (tensor<4x3xi32>) -> !snn.counts<4x3, 1>
    func.return %0 : !snn.counts<4x3, 1>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.neuron: threshold must be positive
