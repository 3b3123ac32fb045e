import torch
import torch.nn as nn


class Model(nn.Module):
    """GELU(x + bias) + residual."""

    def __init__(self, dim):
        super().__init__()
        self.bias = nn.Parameter(torch.randn(dim) * 0.1)

    def forward(self, x, residual):
        return torch.nn.functional.gelu(x + self.bias) + residual


batch_size = 16
dim = 128


def get_inputs():
    return [torch.randn(batch_size, dim), torch.randn(batch_size, dim)]


def get_init_inputs():
    return [dim]
