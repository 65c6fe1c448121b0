// RUN: nscc opt %s -p spike-conversion 2>/dev/null | filecheck %s

// A quantizer the model was trained with, then max pooling and flattening (Brevitas' order):
// spike-conversion first moves the pooling and the reshape above the quantizer (a rounding
// that never decreases commutes with a max, and any elementwise map with a reshape), so the
// quantizer sits right before the dense layer, which encodes with its threshold and range.
builtin.module {
  func.func @main(%x: tensor<1x2x4x4xf32>) -> tensor<1x3xf32> {
    %s = arith.constant dense<2.500000e-01> : tensor<f32>
    %d = nn.div %x, %s : (tensor<1x2x4x4xf32>, tensor<f32>) -> tensor<1x2x4x4xf32>
    %c = nn.clip %d {min = 0.000000e+00 : f64, max = 1.500000e+01 : f64} : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
    %r = nn.round %c : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
    %q = nn.mul %r, %s : (tensor<1x2x4x4xf32>, tensor<f32>) -> tensor<1x2x4x4xf32>
    %p = nn.max_pool %q {kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>} : (tensor<1x2x4x4xf32>) -> tensor<1x2x2x2xf32>
    %f = nn.reshape %p : (tensor<1x2x2x2xf32>) -> tensor<1x8xf32>
    %w = arith.constant dense<5.000000e-01> : tensor<8x3xf32>
    %y = nn.matmul %f, %w : (tensor<1x8xf32>, tensor<8x3xf32>) -> tensor<1x3xf32>
    func.return %y : tensor<1x3xf32>
  }
}

// CHECK:      %[[P:.*]] = nn.max_pool %x {{.*}} : (tensor<1x2x4x4xf32>) -> tensor<1x2x2x2xf32>
// CHECK-NEXT: %[[F:.*]] = nn.reshape %[[P]] : (tensor<1x2x2x2xf32>) -> tensor<1x8xf32>
// CHECK:      %[[N:.*]] = snn.encode %[[F]], %{{.*}} : (tensor<1x8xf32>, tensor<f32>) -> !snn.counts<1x8, 15>
// CHECK-NOT:  nn.round
// CHECK-NOT:  nn.clip
// CHECK:      snn.synapse %[[N]]
