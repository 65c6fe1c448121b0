// RUN: not nscc opt %s 2>&1 | filecheck %s

// A 16-bit accumulator cannot hold 4096 inputs of up to 255 spikes times 8-bit weights.
builtin.module {
  func.func @main(%x: !snn.counts<1x4096, 255>) -> tensor<1x8xi16> {
    %w = nn.weight "w" : tensor<4096x8xi8>
    %0 = snn.synapse %x, %w {acc_bits = 16 : i64} : (!snn.counts<1x4096, 255>, tensor<4096x8xi8>) -> tensor<1x8xi16>
    func.return %0 : tensor<1x8xi16>
  }
}

// CHECK: nscc: error: {{.*}}snn_verify_overflow.mlir: IR does not verify: snn.synapse: accumulator of 16 bits can overflow (fan-in 4096 x activation 255 x weight 128 = 133693440)
