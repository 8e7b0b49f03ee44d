"""Kernels as tensor functions: Triton (GPU, or the CPU under ``TRITON_INTERPRET=1``) and numba
(CPU). Nothing here imports the rest of :mod:`idtheory`; the projection layer
(:mod:`idtheory.projections`) and :mod:`idtheory.hadamard` dispatch to these functions. Each
module guards its own ``triton`` / ``numba`` import."""
