// RUN: nscc opt %s -p binary-expand | filecheck %s
// RUN: nscc opt %s -p 'binary-expand{coding=bitplane}' | filecheck %s --check-prefix=PLANES

// Counts feeding two synapses are expanded once; the synapses then read binary trains.
builtin.module attributes {nscc.spike_coding = "thermometer"} {
  func.func @main(%n: !snn.counts<2x8, 7, signed>) -> (tensor<2x4xi32>, tensor<2x4xi32>) {
    %w = nn.weight "w" : tensor<8x4xi4>
    %a = snn.synapse %n, %w {acc_bits = 32 : i64} : (!snn.counts<2x8, 7, signed>, tensor<8x4xi4>) -> tensor<2x4xi32>
    %b = snn.synapse %n, %w {acc_bits = 32 : i64} : (!snn.counts<2x8, 7, signed>, tensor<8x4xi4>) -> tensor<2x4xi32>
    func.return %a, %b : tensor<2x4xi32>, tensor<2x4xi32>
  }
}

// CHECK:      %[[S:.*]] = snn.expand %n : (!snn.counts<2x8, 7, signed>) -> !snn.spikes<7x2x8, thermometer, signed>
// CHECK-NEXT: %{{.*}} = snn.synapse %[[S]], %w
// CHECK-NOT:  snn.expand
// CHECK:      %{{.*}} = snn.synapse %[[S]], %w

// PLANES:     snn.expand %n : (!snn.counts<2x8, 7, signed>) -> !snn.spikes<3x2x8, bitplane, signed>
