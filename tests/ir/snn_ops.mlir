// Every snn op once, with the types the targets rely on. Parsed, printed,
// re-parsed and interpreted by tests/test_snn_semantics.py.
builtin.module {
  func.func @main(%x: tensor<2x8xf32>, %theta: tensor<f32>, %current: tensor<5x2x4xi32>,
                  %img: tensor<1x2x5x5xf32>, %qkv: tensor<2x6x4xf32>, %state: tensor<2x4x4xi32>, %norm: tensor<2x4xi32>)
      -> (tensor<2x4xf32>, tensor<2x4xi32>, tensor<2x4xi32>, !snn.counts<2x4, 7, signed>, !snn.spikes<5x2x4, rate, signed>,
          tensor<1x4x3x3xi32>, tensor<2x6x4xi32>, tensor<2x6xi32>, tensor<2x1x4xi64>, tensor<2x1xi64>, tensor<2x4x4xi32>, tensor<2x4xi32>) {
    %n = snn.encode %x, %theta : (tensor<2x8xf32>, tensor<f32>) -> !snn.counts<2x8, 15>
    %therm = snn.expand %n : (!snn.counts<2x8, 15>) -> !snn.spikes<15x2x8, thermometer>
    %planes = snn.expand %n : (!snn.counts<2x8, 15>) -> !snn.spikes<4x2x8, bitplane>
    %w = nn.weight "w" : tensor<8x4xi4>
    %acc = snn.synapse %n, %w {acc_bits = 32 : i64} : (!snn.counts<2x8, 15>, tensor<8x4xi4>) -> tensor<2x4xi32>
    %acc_t = snn.synapse %therm, %w {acc_bits = 32 : i64} : (!snn.spikes<15x2x8, thermometer>, tensor<8x4xi4>) -> tensor<2x4xi32>
    %acc_b = snn.synapse %planes, %w {acc_bits = 32 : i64} : (!snn.spikes<4x2x8, bitplane>, tensor<8x4xi4>) -> tensor<2x4xi32>
    %scale = nn.weight "scale" : tensor<4xf32>
    %bias = nn.weight "bias" : tensor<4xf32>
    %y = snn.decode %acc, %scale, %bias {axis = 1 : i64} : (tensor<2x4xi32>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
    %mult = nn.weight "mult" : tensor<4xi32>
    %ibias = nn.weight "ibias" : tensor<4xi32>
    %r = snn.requant %acc, %mult, %ibias {shift = 8 : i64, axis = 1 : i64} : (tensor<2x4xi32>, tensor<4xi32>, tensor<4xi32>) -> !snn.counts<2x4, 7, signed>
    %s = snn.neuron %current {threshold = 3 : i64, leak_shift = 2 : i64} : (tensor<5x2x4xi32>) -> !snn.spikes<5x2x4, rate, signed>
    %one = nn.weight "one" : tensor<f32>
    %ic = snn.encode %img, %one : (tensor<1x2x5x5xf32>, tensor<f32>) -> !snn.counts<1x2x5x5, 3>
    %cw = nn.weight "cw" : tensor<4x2x3x3xi8>
    %cacc = snn.conv_synapse %ic, %cw {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 1 : i64, acc_bits = 32 : i64} : (!snn.counts<1x2x5x5, 3>, tensor<4x2x3x3xi8>) -> tensor<1x4x3x3xi32>
    %c = snn.encode %qkv, %one : (tensor<2x6x4xf32>, tensor<f32>) -> !snn.counts<2x6x4, 3>
    %num, %den = snn.linear_attention %c, %c, %c {decay_shift = 0 : i64} : (!snn.counts<2x6x4, 3>, !snn.counts<2x6x4, 3>, !snn.counts<2x6x4, 3>) -> (tensor<2x6x4xi32>, tensor<2x6xi32>)
    %c1 = nn.reshape %x : (tensor<2x8xf32>) -> tensor<2x1x8xf32>
    %c2 = nn.slice %c1 {starts = array<i64: 0>, ends = array<i64: 4>, axes = array<i64: 2>, steps = array<i64: 1>} : (tensor<2x1x8xf32>) -> tensor<2x1x4xf32>
    %tok = snn.encode %c2, %theta : (tensor<2x1x4xf32>, tensor<f32>) -> !snn.counts<2x1x4, 3>
    %snum, %sden, %state2, %norm2 = snn.linear_attention_step %tok, %tok, %tok, %state, %norm {decay_shift = 3 : i64} : (!snn.counts<2x1x4, 3>, !snn.counts<2x1x4, 3>, !snn.counts<2x1x4, 3>, tensor<2x4x4xi32>, tensor<2x4xi32>) -> (tensor<2x1x4xi64>, tensor<2x1xi64>, tensor<2x4x4xi32>, tensor<2x4xi32>)
    func.return %y, %acc_t, %acc_b, %r, %s, %cacc, %num, %den, %snum, %sden, %state2, %norm2 : tensor<2x4xf32>, tensor<2x4xi32>, tensor<2x4xi32>, !snn.counts<2x4, 7, signed>, !snn.spikes<5x2x4, rate, signed>, tensor<1x4x3x3xi32>, tensor<2x6x4xi32>, tensor<2x6xi32>, tensor<2x1x4xi64>, tensor<2x1xi64>, tensor<2x4x4xi32>, tensor<2x4xi32>
  }
}
