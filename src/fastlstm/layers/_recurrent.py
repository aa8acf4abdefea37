"""What the recurrent layers share: checks of ``Wx``, ``Wh``, ``b``, the whole-sequence input
projection and the weight gradients as whole-sequence products."""

from __future__ import annotations

import numpy as np

from fastlstm._validate import as_floats
from fastlstm.layers._checks import (
    _param,
    _record_params,
    _same_dtype,
)
from fastlstm.layers._products import _matmul_into, _mm


class _Recurrent:
    """Shared set-up of RNN/LSTM/GRU parameter checks and state handling."""

    gates = 1

    def _init_params(self, Wx, Wh, b):
        names = ["Wx", "Wh"] + (["b"] if b is not None else [])
        arrays = [Wx, Wh] + ([b] if b is not None else [])
        for a, n in zip(arrays, names):
            _param(a, n, 1 if n == "b" else 2)
        _same_dtype(*arrays)
        H, G = Wh.shape
        if H == 0:
            raise ValueError(f"Wh has shape {Wh.shape}: the hidden size H must be at least 1")
        if G != self.gates * H:
            raise ValueError(f"Wh must be (H, {self.gates}H), got {Wh.shape}")
        if Wx.shape[1] != G:
            raise ValueError(f"Wx has shape {Wx.shape}, expected (D, {G}) to match Wh {Wh.shape}")
        if b is not None and b.shape != (G,):
            raise ValueError(f"b has shape {b.shape}, expected ({G},) to match Wh {Wh.shape}")
        self.params = arrays
        self.grads = [np.zeros_like(a) for a in arrays]
        _record_params(self, names)
        self.dtype = Wx.dtype
        self._one = Wx.dtype.type(1)
        self.D, self.H = Wx.shape[0], H

    def _inputs(self, xs):
        xs = as_floats(xs, self.dtype, "xs", ndim=3, shape=(None, None, self.D))
        N, T, _ = xs.shape
        xs_tm = np.ascontiguousarray(xs.transpose(1, 0, 2))  # (T, N, D)
        return N, T, xs_tm

    def _projection(self, xs_tm, width):
        T, N, D = xs_tm.shape
        A = np.empty((T, N, width), dtype=self.dtype)  # (T, N, G)
        bias = self.params[2] if len(self.params) == 3 else None
        _matmul_into(A.reshape(T * N, width), xs_tm.reshape(T * N, D), self.params[0], bias)
        return A

    def _dhs(self, dhs, N, T):
        return as_floats(dhs, self.dtype, "dhs", ndim=3, shape=(N, T, self.H))

    def _weight_grads(self, xs_tm, hprev_tm, dA):
        """dWx, dWh, db and dxs (N, T, D) as whole-sequence products."""
        T, N, D = xs_tm.shape
        G = dA.shape[2]
        dA2 = dA.reshape(T * N, G)  # (T*N, G)
        _matmul_into(self.grads[0], xs_tm.reshape(T * N, D).T, dA2)
        _matmul_into(self.grads[1], hprev_tm.reshape(T * N, self.H).T, dA2)
        if len(self.params) == 3:
            self.grads[2][...] = dA2.sum(axis=0)
        dxs_tm = _mm(dA2, self.params[0].T)  # (T*N, D)
        return np.ascontiguousarray(dxs_tm.reshape(T, N, D).transpose(1, 0, 2))
