"""AMD VCK190 Vitis HLS package target (to be built: see the project's issues)."""
