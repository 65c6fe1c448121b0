// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for snn.linear_attention_step, one case per `// -----` section, each with the verifier's message.

// -----
// state shape
builtin.module {
  func.func @main(%q: !snn.counts<1x1x8, 15>, %v: !snn.counts<1x1x6, 15>, %s: tensor<1x8x5xi64>, %n: tensor<1x8xi64>) -> (tensor<1x1x6xi64>, tensor<1x1xi64>, tensor<1x8x5xi64>, tensor<1x8xi64>) {
    %0, %1, %2, %3 = snn.linear_attention_step %q, %q, %v, %s, %n {decay_shift = 0 : i64} : (!snn.counts<1x1x8, 15>, !snn.counts<1x1x8, 15>, !snn.counts<1x1x6, 15>, tensor<1x8x5xi64>, tensor<1x8xi64>) -> (tensor<1x1x6xi64>, tensor<1x1xi64>, tensor<1x8x5xi64>, tensor<1x8xi64>)
    func.return %0, %1, %2, %3 : tensor<1x1x6xi64>, tensor<1x1xi64>, tensor<1x8x5xi64>, tensor<1x8xi64>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.linear_attention_step: state must be [..., dk, dv]

// -----
// norm shape
builtin.module {
  func.func @main(%q: !snn.counts<1x1x8, 15>, %v: !snn.counts<1x1x6, 15>, %s: tensor<1x8x6xi64>, %n: tensor<1x7xi64>) -> (tensor<1x1x6xi64>, tensor<1x1xi64>, tensor<1x8x6xi64>, tensor<1x7xi64>) {
    %0, %1, %2, %3 = snn.linear_attention_step %q, %q, %v, %s, %n {decay_shift = 0 : i64} : (!snn.counts<1x1x8, 15>, !snn.counts<1x1x8, 15>, !snn.counts<1x1x6, 15>, tensor<1x8x6xi64>, tensor<1x7xi64>) -> (tensor<1x1x6xi64>, tensor<1x1xi64>, tensor<1x8x6xi64>, tensor<1x7xi64>)
    func.return %0, %1, %2, %3 : tensor<1x1x6xi64>, tensor<1x1xi64>, tensor<1x8x6xi64>, tensor<1x7xi64>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.linear_attention_step: norm must be [..., dk]

// -----
// new state type
builtin.module {
  func.func @main(%q: !snn.counts<1x1x8, 15>, %v: !snn.counts<1x1x6, 15>, %s: tensor<1x8x6xi64>, %n: tensor<1x8xi64>) -> (tensor<1x1x6xi64>, tensor<1x1xi64>, tensor<1x8x6xi32>, tensor<1x8xi64>) {
    %0, %1, %2, %3 = snn.linear_attention_step %q, %q, %v, %s, %n {decay_shift = 0 : i64} : (!snn.counts<1x1x8, 15>, !snn.counts<1x1x8, 15>, !snn.counts<1x1x6, 15>, tensor<1x8x6xi64>, tensor<1x8xi64>) -> (tensor<1x1x6xi64>, tensor<1x1xi64>, tensor<1x8x6xi32>, tensor<1x8xi64>)
    func.return %0, %1, %2, %3 : tensor<1x1x6xi64>, tensor<1x1xi64>, tensor<1x8x6xi32>, tensor<1x8xi64>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.linear_attention_step: new state types must equal the old
