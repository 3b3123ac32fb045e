"""`triton-kernels-v0`: write Triton kernels for PyTorch reference modules (KernelBench format)."""
