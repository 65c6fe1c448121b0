// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for snn.attention_step, one case per `// -----` section, each with the verifier's message.

// -----
// caches of different lengths
builtin.module {
  func.func @main(%q: !snn.counts<1x4x1x8, 15, signed>, %k: !snn.counts<1x2x1x8, 15, signed>, %v: !snn.counts<1x2x1x2, 15, signed>, %kc: tensor<1x2x6x8xi8>, %vc: tensor<1x2x7x2xi8>, %p: tensor<1xi64>) -> tensor<1x4x1x2xi64> {
    %0, %1, %2 = snn.attention_step %q, %k, %v, %kc, %vc, %p {multiplier = 1000 : i64, shift = 10 : i64, frac_bits = 16 : i64} : (!snn.counts<1x4x1x8, 15, signed>, !snn.counts<1x2x1x8, 15, signed>, !snn.counts<1x2x1x2, 15, signed>, tensor<1x2x6x8xi8>, tensor<1x2x7x2xi8>, tensor<1xi64>) -> (tensor<1x4x1x2xi64>, tensor<1x2x6x8xi8>, tensor<1x2x7x2xi8>)
    func.return %0 : tensor<1x4x1x2xi64>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.attention_step: the caches (1, 2, 6, 8), (1, 2, 7, 2) must be k's and v's shapes with N positions

// -----
// a byte cannot hold 200 levels
builtin.module {
  func.func @main(%q: !snn.counts<1x4x1x8, 200, signed>, %k: !snn.counts<1x2x1x8, 200, signed>, %v: !snn.counts<1x2x1x2, 200, signed>, %kc: tensor<1x2x6x8xi8>, %vc: tensor<1x2x6x2xi8>, %p: tensor<1xi64>) -> tensor<1x4x1x2xi64> {
    %0, %1, %2 = snn.attention_step %q, %k, %v, %kc, %vc, %p {multiplier = 1000 : i64, shift = 10 : i64, frac_bits = 16 : i64} : (!snn.counts<1x4x1x8, 200, signed>, !snn.counts<1x2x1x8, 200, signed>, !snn.counts<1x2x1x2, 200, signed>, tensor<1x2x6x8xi8>, tensor<1x2x6x2xi8>, tensor<1xi64>) -> (tensor<1x4x1x2xi64>, tensor<1x2x6x8xi8>, tensor<1x2x6x2xi8>)
    func.return %0 : tensor<1x4x1x2xi64>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.attention_step: a cache of i8 cannot hold counts up to 200

// -----
// position
builtin.module {
  func.func @main(%q: !snn.counts<1x4x1x8, 15, signed>, %k: !snn.counts<1x2x1x8, 15, signed>, %v: !snn.counts<1x2x1x2, 15, signed>, %kc: tensor<1x2x6x8xi8>, %vc: tensor<1x2x6x2xi8>, %p: tensor<2xi64>) -> tensor<1x4x1x2xi64> {
    %0, %1, %2 = snn.attention_step %q, %k, %v, %kc, %vc, %p {multiplier = 1000 : i64, shift = 10 : i64, frac_bits = 16 : i64} : (!snn.counts<1x4x1x8, 15, signed>, !snn.counts<1x2x1x8, 15, signed>, !snn.counts<1x2x1x2, 15, signed>, tensor<1x2x6x8xi8>, tensor<1x2x6x2xi8>, tensor<2xi64>) -> (tensor<1x4x1x2xi64>, tensor<1x2x6x8xi8>, tensor<1x2x6x2xi8>)
    func.return %0 : tensor<1x4x1x2xi64>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.attention_step: position must be tensor<1xi64>

// -----
// two positions at once
builtin.module {
  func.func @main(%q: !snn.counts<1x4x2x8, 15, signed>, %k: !snn.counts<1x2x1x8, 15, signed>, %v: !snn.counts<1x2x1x2, 15, signed>, %kc: tensor<1x2x6x8xi8>, %vc: tensor<1x2x6x2xi8>, %p: tensor<1xi64>) -> tensor<1x4x1x2xi64> {
    %0, %1, %2 = snn.attention_step %q, %k, %v, %kc, %vc, %p {multiplier = 1000 : i64, shift = 10 : i64, frac_bits = 16 : i64} : (!snn.counts<1x4x2x8, 15, signed>, !snn.counts<1x2x1x8, 15, signed>, !snn.counts<1x2x1x2, 15, signed>, tensor<1x2x6x8xi8>, tensor<1x2x6x2xi8>, tensor<1xi64>) -> (tensor<1x4x1x2xi64>, tensor<1x2x6x8xi8>, tensor<1x2x6x2xi8>)
    func.return %0 : tensor<1x4x1x2xi64>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.attention_step: q, k and v hold one position
