"""Private numba kernels: arrays and scalars in, preallocated outputs, no Python objects."""
