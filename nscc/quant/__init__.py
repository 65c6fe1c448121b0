"""Quantization decisions, apart from the passes that rewrite the IR with them.

* `plans`: what a linear layer becomes (LinearPlan), activation thresholds
  from calibration (choose_clip), trained quantizers, the weight quantization
  of one layer (quantize_layer, folded_weight, corrected_bias) and the
  per-layer choices `bit-allocation` records on ops;
* `fixed`: fixed-point multipliers and values (fixed_point, to_fixed);
* `quantize`: the weight quantizers themselves (ternary, 2..16 bits, GPTQ, OBS);
* `allocation`: `bit-allocation`'s measured choice of width and levels per layer;
* `pruning`: `sparsity-pruning`'s measured choice of pruned weights and threshold gains;
* `knapsack`, `sensitivity`: the multiple-choice knapsack and the measured output error both use.
"""
