"""nscc's passes, one per file. Each is an xDSL ModulePass with a `name`."""

from xdsl.passes import ModulePass

from nscc.passes.binary_expand import BinaryExpandPass
from nscc.passes.bit_allocation import BitAllocationPass
from nscc.passes.decode_step import DecodeStepPass
from nscc.passes.fuse_gelu import FuseGeluPass
from nscc.passes.fuse_layer_norm import FuseLayerNormPass
from nscc.passes.fuse_rms_norm import FuseRmsNormPass
from nscc.passes.fuse_silu import FuseSiluPass
from nscc.passes.integer_islands import IntegerIslandsPass
from nscc.passes.linear_attention import LinearAttentionPass
from nscc.passes.online_hadamard import OnlineHadamardPass
from nscc.passes.raise_attention import RaiseAttentionPass
from nscc.passes.requant_fusion import RequantFusionPass
from nscc.passes.rotate_residual import RotateResidualPass
from nscc.passes.sparsity_pruning import SparsityPruningPass
from nscc.passes.spike_conversion import SpikeConversionPass
from nscc.passes.stateful_neurons import StatefulNeuronsPass
from nscc.passes.token_scale import TokenScalePass

ALL_PASSES: list[type[ModulePass]] = [
    FuseGeluPass,
    FuseSiluPass,
    FuseRmsNormPass,
    FuseLayerNormPass,
    RaiseAttentionPass,
    LinearAttentionPass,
    RotateResidualPass,
    OnlineHadamardPass,
    TokenScalePass,
    BitAllocationPass,
    SpikeConversionPass,
    SparsityPruningPass,
    StatefulNeuronsPass,
    RequantFusionPass,
    IntegerIslandsPass,
    BinaryExpandPass,
    DecodeStepPass,
]
