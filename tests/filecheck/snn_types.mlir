// RUN: nscc opt %s | filecheck %s
// RUN: nscc opt %s --generic | nscc opt - | filecheck %s

// The snn types print in their short forms and survive the generic form.
builtin.module {
  func.func @main(%x: !snn.counts<4x8, 15, signed>) -> (!snn.spikes<15x4x8, thermometer, signed>, !snn.spikes<4x4x8, bitplane, signed>) {
    %t = snn.expand %x : (!snn.counts<4x8, 15, signed>) -> !snn.spikes<15x4x8, thermometer, signed>
    %b = snn.expand %x : (!snn.counts<4x8, 15, signed>) -> !snn.spikes<4x4x8, bitplane, signed>
    func.return %t, %b : !snn.spikes<15x4x8, thermometer, signed>, !snn.spikes<4x4x8, bitplane, signed>
  }
}

// CHECK: %{{.*}} = snn.expand %x : (!snn.counts<4x8, 15, signed>) -> !snn.spikes<15x4x8, thermometer, signed>
// CHECK: %{{.*}} = snn.expand %x : (!snn.counts<4x8, 15, signed>) -> !snn.spikes<4x4x8, bitplane, signed>
