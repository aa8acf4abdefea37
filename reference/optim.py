"""Optimizers of the book's ``common/optimizer.py`` and the gradient helpers of
``common/util.py`` / ``common/trainer.py`` in plain NumPy.

Every optimizer updates the parameter arrays in place (``params[i] -= ...``), so
layers that hold the same arrays see the new values.  Scalar factors are Python
floats, so the arithmetic stays in the parameters' dtype (as the book under NumPy 1).
"""

import numpy as np

__all__ = [
    "SGD",
    "Momentum",
    "Nesterov",
    "AdaGrad",
    "RMSprop",
    "Adam",
    "clip_grads",
    "remove_duplicate",
]


def _check_lists(params, grads):
    if len(params) != len(grads):
        raise ValueError(f"params and grads differ in length: {len(params)} != {len(grads)}")


class SGD:
    """Stochastic gradient descent: ``W -= lr * dW``.

    Parameters
    ----------
    lr : float, default 0.01
        Learning rate.
    """

    def __init__(self, lr=0.01):
        self.lr = lr

    def update(self, params, grads):
        """Update every array of ``params`` in place from ``grads``."""
        _check_lists(params, grads)
        for i in range(len(params)):
            params[i] -= self.lr * grads[i]


class Momentum:
    """Momentum SGD: ``v = momentum * v - lr * dW``; ``W += v``.

    Parameters
    ----------
    lr : float, default 0.01
        Learning rate.
    momentum : float, default 0.9
        Decay of the velocity.
    """

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr = lr
        self.momentum = momentum
        self.v = None

    def update(self, params, grads):
        """Update every array of ``params`` in place from ``grads``."""
        _check_lists(params, grads)
        if self.v is None:
            self.v = [np.zeros_like(p) for p in params]
        for i in range(len(params)):
            self.v[i] = self.momentum * self.v[i] - self.lr * grads[i]
            params[i] += self.v[i]


class Nesterov:
    """Nesterov's accelerated gradient in the book's form (arXiv:1212.0901).

    ``v = momentum * v - lr * dW``;
    ``W += momentum**2 * v - (1 + momentum) * lr * dW``.

    Parameters
    ----------
    lr : float, default 0.01
        Learning rate.
    momentum : float, default 0.9
        Decay of the velocity.
    """

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr = lr
        self.momentum = momentum
        self.v = None

    def update(self, params, grads):
        """Update every array of ``params`` in place from ``grads``."""
        _check_lists(params, grads)
        if self.v is None:
            self.v = [np.zeros_like(p) for p in params]
        for i in range(len(params)):
            self.v[i] *= self.momentum
            self.v[i] -= self.lr * grads[i]
            params[i] += self.momentum * self.momentum * self.v[i]
            params[i] -= (1 + self.momentum) * self.lr * grads[i]


class AdaGrad:
    """AdaGrad: ``h += dW**2``; ``W -= lr * dW / (sqrt(h) + 1e-7)``.

    Parameters
    ----------
    lr : float, default 0.01
        Learning rate.
    """

    def __init__(self, lr=0.01):
        self.lr = lr
        self.h = None

    def update(self, params, grads):
        """Update every array of ``params`` in place from ``grads``."""
        _check_lists(params, grads)
        if self.h is None:
            self.h = [np.zeros_like(p) for p in params]
        for i in range(len(params)):
            self.h[i] += grads[i] * grads[i]
            params[i] -= self.lr * grads[i] / (np.sqrt(self.h[i]) + 1e-7)


class RMSprop:
    """RMSprop: ``h = decay * h + (1 - decay) * dW**2``; ``W -= lr * dW / (sqrt(h) + 1e-7)``.

    Parameters
    ----------
    lr : float, default 0.01
        Learning rate.
    decay_rate : float, default 0.99
        Decay of the running mean of squared gradients.
    """

    def __init__(self, lr=0.01, decay_rate=0.99):
        self.lr = lr
        self.decay_rate = decay_rate
        self.h = None

    def update(self, params, grads):
        """Update every array of ``params`` in place from ``grads``."""
        _check_lists(params, grads)
        if self.h is None:
            self.h = [np.zeros_like(p) for p in params]
        for i in range(len(params)):
            self.h[i] *= self.decay_rate
            self.h[i] += (1 - self.decay_rate) * grads[i] * grads[i]
            params[i] -= self.lr * grads[i] / (np.sqrt(self.h[i]) + 1e-7)


class Adam:
    """Adam in the book's form (arXiv:1412.6980v8).

    With ``k`` the step count,
    ``lr_t = lr * sqrt(1 - beta2**k) / (1 - beta1**k)``,
    ``m += (1 - beta1) * (dW - m)``, ``v += (1 - beta2) * (dW**2 - v)``,
    ``W -= lr_t * m / (sqrt(v) + 1e-7)``.

    Parameters
    ----------
    lr : float, default 0.001
        Learning rate.
    beta1, beta2 : float, default 0.9, 0.999
        Decays of the first and second moment estimates.
    """

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.iter = 0
        self.m = None
        self.v = None

    def update(self, params, grads):
        """Update every array of ``params`` in place from ``grads``."""
        _check_lists(params, grads)
        if self.m is None:
            self.m = [np.zeros_like(p) for p in params]
            self.v = [np.zeros_like(p) for p in params]

        self.iter += 1
        lr_t = float(self.lr * np.sqrt(1.0 - self.beta2**self.iter) / (1.0 - self.beta1**self.iter))
        for i in range(len(params)):
            self.m[i] += (1 - self.beta1) * (grads[i] - self.m[i])
            self.v[i] += (1 - self.beta2) * (grads[i] ** 2 - self.v[i])
            params[i] -= lr_t * self.m[i] / (np.sqrt(self.v[i]) + 1e-7)


def clip_grads(grads, max_norm):
    """Scale all gradients in place so that their global L2 norm is at most ``max_norm``.

    Parameters
    ----------
    grads : list of ndarray
        Gradients, modified in place.
    max_norm : float
        Threshold; the gradients are multiplied by ``max_norm / (norm + 1e-6)``
        when that rate is below one (book's ``common/util.py``).
    """
    total_norm = 0.0
    for grad in grads:
        total_norm += np.sum(grad**2)
    total_norm = np.sqrt(total_norm)

    rate = float(max_norm / (total_norm + 1e-6))
    if rate < 1:
        for grad in grads:
            grad *= rate


def remove_duplicate(params, grads):
    """Merge shared weights, adding their gradients (book's ``common/trainer.py``).

    A parameter that appears twice (same object) keeps one entry whose gradient is the
    sum of both; a 2-D parameter equal in value to the transpose of an earlier one
    (weight tying) is merged by adding the transposed gradient.

    Parameters
    ----------
    params, grads : list of ndarray
        The model's lists (not modified; the kept gradient arrays are added to in place).

    Returns
    -------
    params, grads : list of ndarray
        New lists without the duplicates.
    """
    _check_lists(params, grads)
    params, grads = params[:], grads[:]

    while True:
        find_flg = False
        L = len(params)
        for i in range(0, L - 1):
            for j in range(i + 1, L):
                if params[i] is params[j]:  # shared weight
                    grads[i] += grads[j]
                    find_flg = True
                    params.pop(j)
                    grads.pop(j)
                elif (
                    params[i].ndim == 2
                    and params[j].ndim == 2
                    and params[i].T.shape == params[j].shape
                    and np.all(params[i].T == params[j])
                ):  # weight tying with a transposed view
                    grads[i] += grads[j].T
                    find_flg = True
                    params.pop(j)
                    grads.pop(j)
                if find_flg:
                    break
            if find_flg:
                break
        if not find_flg:
            break

    return params, grads
