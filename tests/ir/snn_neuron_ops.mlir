// The stateful neurons of imported spiking networks (NIR) once each: snn.lif with
// per-neuron decays and resets and one shared threshold, and snn.leaky_integrate.
// Parsed, printed, re-parsed and interpreted by tests/test_snn_semantics.py against
// a reference written from docs/semantics.md; the simulator and csim against that.
// With them, snn.recurrent_lif, and a requantization whose bias has fraction bits, into a
// two's-complement range.
builtin.module {
  func.func @main(%i: tensor<40x2x3xi32>) -> (tensor<40x2x3xi32>, tensor<40x2x3xi32>, tensor<40x2x3xi32>, tensor<40x6xi32>) {
    %decay = nn.weight "decay" : tensor<6xi32>
    %theta = nn.weight "theta" : tensor<1xi32>
    %reset = nn.weight "reset" : tensor<6xi32>
    %one = nn.weight "one" : tensor<1xi32>
    %s = snn.lif %i, %decay, %theta, %reset : (tensor<40x2x3xi32>, tensor<6xi32>, tensor<1xi32>, tensor<6xi32>) -> !snn.counts<40x2x3, 1>
    %si = snn.requant %s, %one {shift = 0 : i64, axis = 0 : i64} : (!snn.counts<40x2x3, 1>, tensor<1xi32>) -> tensor<40x2x3xi32>
    %v = snn.leaky_integrate %i, %decay : (tensor<40x2x3xi32>, tensor<6xi32>) -> tensor<40x2x3xi32>
    %mq = nn.weight "mq" : tensor<3xi32>
    %bq = nn.weight "bq" : tensor<3xi32>
    %q = snn.requant %i, %mq, %bq {shift = 22 : i64, axis = 2 : i64, bias_frac = 12 : i64} : (tensor<40x2x3xi32>, tensor<3xi32>, tensor<3xi32>) -> !snn.counts<40x2x3, 8, signed, max 7>
    %qi = snn.requant %q, %one {shift = 0 : i64, axis = 0 : i64} : (!snn.counts<40x2x3, 8, signed, max 7>, tensor<1xi32>) -> tensor<40x2x3xi32>
    %i2 = nn.reshape %i : (tensor<40x2x3xi32>) -> tensor<40x6xi32>
    %wr = nn.weight "wrec" : tensor<6x6xi32>
    %r = snn.recurrent_lif %i2, %wr, %decay, %theta, %reset : (tensor<40x6xi32>, tensor<6x6xi32>, tensor<6xi32>, tensor<1xi32>, tensor<6xi32>) -> !snn.counts<40x6, 1>
    %ri = snn.requant %r, %one {shift = 0 : i64, axis = 0 : i64} : (!snn.counts<40x6, 1>, tensor<1xi32>) -> tensor<40x6xi32>
    func.return %si, %v, %qi, %ri : tensor<40x2x3xi32>, tensor<40x2x3xi32>, tensor<40x2x3xi32>, tensor<40x6xi32>
  }
}
