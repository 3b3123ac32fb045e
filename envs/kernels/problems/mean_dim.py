import torch
import torch.nn as nn


class Model(nn.Module):
    """Mean over the last dimension."""

    def __init__(self):
        super().__init__()

    def forward(self, x):
        return torch.mean(x, dim=-1)


batch_size = 16
dim = 128


def get_inputs():
    return [torch.randn(batch_size, dim, dtype=torch.float32)]


def get_init_inputs():
    return []
