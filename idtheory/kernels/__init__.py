"""Optional GPU kernels (Triton). Each module guards its own ``triton`` import."""
