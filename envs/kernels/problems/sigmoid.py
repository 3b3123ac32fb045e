import torch
import torch.nn as nn


class Model(nn.Module):
    """Sigmoid activation."""

    def __init__(self):
        super().__init__()

    def forward(self, x):
        return torch.sigmoid(x)


batch_size = 16
dim = 256


def get_inputs():
    return [torch.randn(batch_size, dim, dtype=torch.float32)]


def get_init_inputs():
    return []
