"""Square Attack (Linf): score-based random search, no gradients.

Paper: Andriushchenko, Croce, Flammarion, Hein, "Square Attack: a query-efficient black-box
adversarial attack via random search", ECCV 2020.
Distance measure: Linf.
Arguments: eps (maximum perturbation, default 8/255); n_queries (model queries per example,
default 1000, the initialization included; small values are fine for tests); p_init (initial
fraction of pixels in the square, default 0.05 as in the paper's Linf experiments; torchattacks/
AutoAttack use 0.8); seed (torch.Generator seed, default 0).
Follows the authors' reference code: only correctly classified examples are attacked; init with
vertical stripes x + eps * U{-1, 1}^(c x 1 x w); then n_queries - 1 iterations, each proposing for
every example that is still classified correctly a square of side
s = round(sqrt(p * h*w)) (clipped to [1, h-1]) at a random position set to x +- eps (one random sign
per channel, redrawn while it would leave the window unchanged), kept when it lowers the margin loss
logit_y - max_{j != y} logit_j. p follows the paper's piecewise-constant schedule (p_init halved at
10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000 of 10000, rescaled to n_queries). All examples of a
batch are handled at once (a square per example). Being gradient-free, it exposes gradient masking
(e.g. by quantization): the model runs under torch.no_grad only.
Example:
    >>> adv = Square(model, eps=8 / 255, n_queries=5000)(images, labels)
"""
from __future__ import annotations

import math

import torch

from qrobust.attacks._base import register_attack
from qrobust.attacks._linf import LinfAttack, make_generator

_SCHEDULE = ((10, 1), (50, 2), (200, 4), (500, 8), (1000, 16), (2000, 32), (4000, 64), (6000, 128),
             (8000, 256), (10000, 512))


def p_selection(p_init: float, it: int, n_iters: int) -> float:
    """The paper's schedule: fraction of pixels changed at iteration `it` of `n_iters`."""
    it = int(it / n_iters * 10000)
    if it <= 10:
        return p_init
    for upper, div in _SCHEDULE[1:]:
        if it <= upper:
            return p_init / div
    return p_init


def margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """logit of the true class minus the largest other logit (> 0 iff classified correctly)."""
    true = logits.gather(1, y[:, None]).squeeze(1)
    other = logits.scatter(1, y[:, None], float("-inf")).amax(1)
    return true - other


@register_attack("square")
class Square(LinfAttack):
    gradient_free = True

    def __init__(self, model, eps: float = 8 / 255, n_queries: int = 1000, p_init: float = 0.05, seed: int = 0):
        super().__init__(model, eps, seed)
        if n_queries < 1 or not 0.0 < p_init <= 1.0:
            raise ValueError(f"need n_queries >= 1 and 0 < p_init <= 1, got {n_queries}, {p_init}")
        self.n_queries, self.p_init = int(n_queries), float(p_init)

    def _signs(self, shape, g, like):
        return torch.randint(0, 2, shape, generator=g, device=like.device).to(like.dtype).mul_(2).sub_(1)

    @torch.no_grad()
    def perturb(self, x, y):
        x_out = x.clone()
        if self.eps == 0.0:
            return x_out
        g = make_generator(self.seed, x.device)
        n, c, h, w = x.shape
        att = (margin(self.model(x), y) > 0).nonzero().squeeze(1)  # only correct examples are attacked
        if att.numel() == 0:
            return x_out
        xa, ya = x[att], y[att]
        best = (xa + self.eps * self._signs((len(att), c, 1, w), g, x)).clamp_(0.0, 1.0)  # vertical stripes
        m_best = margin(self.model(best), ya)
        rows = torch.arange(h, device=x.device)
        cols = torch.arange(w, device=x.device)
        for it in range(self.n_queries - 1):
            todo = (m_best > 0).nonzero().squeeze(1)
            if todo.numel() == 0:
                break
            k = len(todo)
            s = int(round(math.sqrt(p_selection(self.p_init, it, self.n_queries) * h * w)))
            s = min(max(s, 1), h - 1, w - 1) if min(h, w) > 1 else 1
            vh = torch.randint(0, max(h - s, 1), (k, 1), generator=g, device=x.device)
            vw = torch.randint(0, max(w - s, 1), (k, 1), generator=g, device=x.device)
            win = (((rows >= vh) & (rows < vh + s))[:, None, :, None]
                   & ((cols >= vw) & (cols < vw + s))[:, None, None, :])  # k x 1 x h x w
            xc, bc = xa[todo], best[todo]
            sign = self._signs((k, c, 1, 1), g, x)
            new = torch.where(win, (xc + self.eps * sign).clamp_(0.0, 1.0), bc)
            same = (new == bc).flatten(1).all(1)
            for _ in range(100):  # redraw the signs of proposals that change nothing (reference code)
                r = same.nonzero().squeeze(1)
                if r.numel() == 0:
                    break
                sign_r = self._signs((len(r), c, 1, 1), g, x)
                new[r] = torch.where(win[r], (xc[r] + self.eps * sign_r).clamp_(0.0, 1.0), bc[r])
                same[r] = (new[r] == bc[r]).flatten(1).all(1)
            m_new = margin(self.model(new), ya[todo])
            better = m_new < m_best[todo]
            m_best[todo] = torch.where(better, m_new, m_best[todo])
            best[todo] = torch.where(better[:, None, None, None], new, bc)
        x_out[att] = best
        return x_out
