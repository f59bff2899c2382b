import pytest
import torch

from qrobust.papers.dq.regularizer import lipschitz_penalty, orthogonality_gap


def _orthonormal(rows, cols, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(max(rows, cols), min(rows, cols), generator=g))
    return q if rows >= cols else q.t()  # rows x cols with orthonormal columns (tall) or rows (wide)


@pytest.mark.parametrize("shape", [(8, 8), (4, 16), (16, 4)])
def test_zero_for_orthogonal_linear_weights(shape):
    assert orthogonality_gap(_orthonormal(*shape)).item() == pytest.approx(0.0, abs=1e-9)


def test_zero_for_orthogonal_conv_weights():
    w = _orthonormal(8, 3 * 3 * 3).reshape(8, 3, 3, 3)  # C_out x C_in x k x k, rows orthonormal
    conv = torch.nn.Conv2d(3, 8, 3, bias=False)
    conv.weight.data.copy_(w)
    assert lipschitz_penalty(conv, 1.0).item() == pytest.approx(0.0, abs=1e-9)


def test_equals_hand_computation():
    lin = torch.nn.Linear(2, 2, bias=False)
    lin.weight.data = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    # W W^T = [[5, 11], [11, 25]]; minus I -> [[4, 11], [11, 24]]; squares sum to 834
    assert orthogonality_gap(lin.weight).item() == pytest.approx(834.0)
    wide = torch.nn.Linear(3, 1, bias=False)
    wide.weight.data = torch.tensor([[1.0, 1.0, 1.0]])  # W W^T = [3] -> (3 - 1)^2 = 4
    net = torch.nn.Sequential(lin, wide)
    assert lipschitz_penalty(net, 0.1).item() == pytest.approx(0.05 * (834.0 + 4.0))


def test_matches_the_papers_formula_on_the_shorter_side():
    w = torch.randn(5, 12, dtype=torch.float64)
    direct = ((w @ w.t() - torch.eye(5, dtype=torch.float64)) ** 2).sum()
    assert orthogonality_gap(w).item() == pytest.approx(direct.item())
    wt = w.t().contiguous()  # 12 x 5: the Gram of the shorter side is W^T W, as the paper writes
    direct_t = ((wt.t() @ wt - torch.eye(5, dtype=torch.float64)) ** 2).sum()
    assert orthogonality_gap(wt).item() == pytest.approx(direct_t.item())


def test_gradient_descent_on_the_penalty_orthogonalises():
    w = torch.randn(6, 10, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.01)
    start = orthogonality_gap(w).item()
    for _ in range(300):
        opt.zero_grad()
        orthogonality_gap(w).backward()
        opt.step()
    assert orthogonality_gap(w).item() < 1e-3 * start
    assert torch.linalg.matrix_norm(w.detach(), ord=2).item() == pytest.approx(1.0, abs=1e-2)
