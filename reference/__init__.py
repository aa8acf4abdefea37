"""Plain NumPy reference implementation of the book's layers, models and optimizers.

Written like the book (one per-step layer object per time step), it is the oracle
that every fast path of :mod:`fastlstm` is tested against.  Works in float32 and
float64: a layer computes in the dtype of its parameters.
"""
