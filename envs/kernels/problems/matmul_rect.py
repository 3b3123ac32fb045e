import torch
import torch.nn as nn


class Model(nn.Module):
    """Rectangular matrix product (M x K) @ (K x N)."""

    def __init__(self):
        super().__init__()

    def forward(self, a, b):
        return torch.matmul(a, b)


M = 48
K = 80
N = 40


def get_inputs():
    return [torch.randn(M, K), torch.randn(K, N)]


def get_init_inputs():
    return []
