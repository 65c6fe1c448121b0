// RUN: not nscc opt %s --split-input-file 2>&1 | filecheck %s

// Invalid IR for the snn types, one case per `// -----` section, each with the verifier's message.

// -----
// counts levels
builtin.module {
  func.func @main(%c: !snn.counts<2x3, 0>) -> !snn.counts<2x3, 0> {

    func.return %c : !snn.counts<2x3, 0>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.counts: levels must be in [1, 32767]

// -----
// spikes coding
builtin.module {
  func.func @main(%c: !snn.spikes<4x3, gray>) -> !snn.spikes<4x3, gray> {

    func.return %c : !snn.spikes<4x3, gray>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.spikes: coding must be one of thermometer, bitplane, rate

// -----
// spikes slot axis
builtin.module {
  func.func @main(%c: !snn.spikes<0x3, rate>) -> !snn.spikes<0x3, rate> {

    func.return %c : !snn.spikes<0x3, rate>
  }
}
// CHECK: nscc: error: {{.*}}: IR does not verify: snn.spikes: the leading slot axis must be at least 1
