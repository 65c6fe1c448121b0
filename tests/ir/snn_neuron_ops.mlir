// The stateful neurons of imported spiking networks (NIR) once each: snn.lif with
// per-neuron decays and resets and one shared threshold, and snn.leaky_integrate.
// Parsed, printed, re-parsed and interpreted by tests/test_snn_semantics.py against
// a reference written from docs/semantics.md; the simulator and csim against that.
builtin.module {
  func.func @main(%i: tensor<40x2x3xi32>) -> (tensor<40x2x3xi32>, tensor<40x2x3xi32>) {
    %decay = nn.weight "decay" : tensor<6xi32>
    %theta = nn.weight "theta" : tensor<1xi32>
    %reset = nn.weight "reset" : tensor<6xi32>
    %one = nn.weight "one" : tensor<1xi32>
    %s = snn.lif %i, %decay, %theta, %reset : (tensor<40x2x3xi32>, tensor<6xi32>, tensor<1xi32>, tensor<6xi32>) -> !snn.counts<40x2x3, 1>
    %si = snn.requant %s, %one {shift = 0 : i64, axis = 0 : i64} : (!snn.counts<40x2x3, 1>, tensor<1xi32>) -> tensor<40x2x3xi32>
    %v = snn.leaky_integrate %i, %decay : (tensor<40x2x3xi32>, tensor<6xi32>) -> tensor<40x2x3xi32>
    func.return %si, %v : tensor<40x2x3xi32>, tensor<40x2x3xi32>
  }
}
