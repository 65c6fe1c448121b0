// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for snn.expand, one case per `// -----` section, each with the verifier's message.

// -----
// shape
builtin.module {
  func.func @main(%c: !snn.counts<2x3, 15>) -> !snn.spikes<15x2x4, thermometer> {
    %0 = snn.expand %c : (!snn.counts<2x3, 15>) -> !snn.spikes<15x2x4, thermometer>
    func.return %0 : !snn.spikes<15x2x4, thermometer>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.expand: result shape must be [slots] + input shape

// -----
// rate coding
builtin.module {
  func.func @main(%c: !snn.counts<2x3, 15>) -> !snn.spikes<15x2x3, rate> {
    %0 = snn.expand %c : (!snn.counts<2x3, 15>) -> !snn.spikes<15x2x3, rate>
    func.return %0 : !snn.spikes<15x2x3, rate>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.expand: coding must be thermometer or bitplane

// -----
// slot count
builtin.module {
  func.func @main(%c: !snn.counts<2x3, 15>) -> !snn.spikes<3x2x3, bitplane> {
    %0 = snn.expand %c : (!snn.counts<2x3, 15>) -> !snn.spikes<3x2x3, bitplane>
    func.return %0 : !snn.spikes<3x2x3, bitplane>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.expand: bitplane coding of 15 levels needs 4 slots, not 3

// -----
// signedness
builtin.module {
  func.func @main(%c: !snn.counts<2x3, 15, signed>) -> !snn.spikes<4x2x3, bitplane> {
    %0 = snn.expand %c : (!snn.counts<2x3, 15, signed>) -> !snn.spikes<4x2x3, bitplane>
    func.return %0 : !snn.spikes<4x2x3, bitplane>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.expand: signedness of counts and spikes must agree
