"""The meaning of every `nn` and `snn` op, implemented once, over numpy.

`nscc.semantics.nn` and `nscc.semantics.snn` hold one vectorised kernel per
op (the exact integer semantics of docs/semantics.md for `snn`), and
`nscc.semantics.interpreter` runs a module with them through xDSL's
interpreter. Everything that needs an op's value (the frontend's constant
folding, calibration, the passes' measurements, the reference interpreter
target, the golden vectors of the other targets) comes here; the C++ and HLS
targets reproduce these kernels bit for bit. `nscc.semantics.fixed` is the
one table of fixed-point constants that the C++ headers are generated from.
"""
