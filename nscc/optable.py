"""A table of functions by op type, filled by a decorator.

The semantics' kernels and each target's emitters are such tables: the table
is what the layer implements, so a missing op is found by a lookup, not by
falling off the end of an isinstance chain."""

from __future__ import annotations

from collections.abc import Callable


class OpTable(dict):
    def __call__(self, *op_types: type) -> Callable[[Callable], Callable]:
        """`@TABLE(nn.AddOp, nn.SubOp)` registers the function for those op types."""

        def register(fn: Callable) -> Callable:
            for t in op_types:
                self[t] = fn
            return fn

        return register
