// RUN: nscc opt %s --load-pass-plugin %examples/custom_pass/merge_reshapes.py -p example-merge-reshapes | filecheck %s

builtin.module {
  func.func @main(%x: tensor<2x3x4xf32>) -> tensor<4x6xf32> {
    %a = nn.reshape %x : (tensor<2x3x4xf32>) -> tensor<6x4xf32>
    %b = nn.reshape %a : (tensor<6x4xf32>) -> tensor<24xf32>
    %c = nn.reshape %b : (tensor<24xf32>) -> tensor<4x6xf32>
    %d = nn.reshape %c : (tensor<4x6xf32>) -> tensor<4x6xf32>
    %e = nn.neg %d : (tensor<4x6xf32>) -> tensor<4x6xf32>
    func.return %e : tensor<4x6xf32>
  }
}

// CHECK:      func.func @main(%x: tensor<2x3x4xf32>) -> tensor<4x6xf32> {
// CHECK-NEXT:   %[[R:.*]] = nn.reshape %x : (tensor<2x3x4xf32>) -> tensor<4x6xf32>
// CHECK-NEXT:   %[[N:.*]] = nn.neg %[[R]] : (tensor<4x6xf32>) -> tensor<4x6xf32>
// CHECK-NEXT:   func.return %[[N]] : tensor<4x6xf32>
