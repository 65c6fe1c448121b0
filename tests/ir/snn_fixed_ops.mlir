// The fixed-point ops once each. Parsed, printed, re-parsed and interpreted by
// tests/test_snn_semantics.py against references written from docs/semantics.md.
builtin.module {
  func.func @main(%x: tensor<3x16xf32>, %acc: tensor<3x16xi32>) -> (tensor<3x16xi32>, tensor<3x16xi32>, tensor<3x16xi32>, tensor<3x16xi32>, tensor<3x16xf32>, tensor<3x16xi32>, tensor<3x16xi32>, tensor<3x16xi32>, tensor<3x16xi32>, tensor<3x16xi32>, tensor<3x16xi32>, tensor<3x16xi32>) {
    %v = snn.fixed_encode %x {frac_bits = 12 : i64} : (tensor<3x16xf32>) -> tensor<3x16xi32>
    %g = nn.weight "gamma" : tensor<16xi32>
    %b = nn.weight "beta" : tensor<16xi32>
    %ln = snn.fixed_layer_norm %v, %g, %b {axis = 1 : i64, frac_bits = 12 : i64, var_shift = 3 : i64, epsilon = 1 : i64} : (tensor<3x16xi32>, tensor<16xi32>, tensor<16xi32>) -> tensor<3x16xi32>
    %sm = snn.fixed_softmax %v {axis = 1 : i64, frac_bits = 12 : i64} : (tensor<3x16xi32>) -> tensor<3x16xi32>
    %ge = snn.fixed_gelu %v {frac_bits = 12 : i64} : (tensor<3x16xi32>) -> tensor<3x16xi32>
    %y = snn.fixed_decode %ge {frac_bits = 12 : i64} : (tensor<3x16xi32>) -> tensor<3x16xf32>
    %m = nn.weight "mult" : tensor<16xi32>
    %fx = snn.requant %acc, %m {shift = 10 : i64, axis = 1 : i64} : (tensor<3x16xi32>, tensor<16xi32>) -> tensor<3x16xi32>
    %s = snn.fixed_add %fx, %v : (tensor<3x16xi32>, tensor<3x16xi32>) -> tensor<3x16xi32>
    %dn = nn.weight "den" : tensor<3x1xi32>
    %dv = snn.fixed_div %acc, %dn {frac_bits = 12 : i64} : (tensor<3x16xi32>, tensor<3x1xi32>) -> tensor<3x16xi32>
    %rms = snn.fixed_rms_norm %v, %g {axis = 1 : i64, frac_bits = 12 : i64, var_shift = 3 : i64, epsilon = 1 : i64} : (tensor<3x16xi32>, tensor<16xi32>) -> tensor<3x16xi32>
    %si = snn.fixed_silu %v {frac_bits = 12 : i64, alpha = 1073741824 : i64} : (tensor<3x16xi32>) -> tensor<3x16xi32>
    %qg = snn.fixed_silu %v {frac_bits = 12 : i64, alpha = 1827508584 : i64} : (tensor<3x16xi32>) -> tensor<3x16xi32>
    %mu = snn.fixed_mul %v, %b {frac_bits = 12 : i64} : (tensor<3x16xi32>, tensor<16xi32>) -> tensor<3x16xi32>
    %ha = nn.weight "ha" : tensor<2x2xi8>
    %hb = nn.weight "hb" : tensor<8x8xi8>
    %hd = snn.fixed_hadamard %v, %ha, %hb {multiplier = 16384 : i64, shift = 16 : i64} : (tensor<3x16xi32>, tensor<2x2xi8>, tensor<8x8xi8>) -> tensor<3x16xi32>
    func.return %ln, %sm, %ge, %s, %y, %fx, %dv, %rms, %si, %qg, %mu, %hd : tensor<3x16xi32>, tensor<3x16xi32>, tensor<3x16xi32>, tensor<3x16xi32>, tensor<3x16xf32>, tensor<3x16xi32>, tensor<3x16xi32>, tensor<3x16xi32>, tensor<3x16xi32>, tensor<3x16xi32>, tensor<3x16xi32>, tensor<3x16xi32>
  }
}
