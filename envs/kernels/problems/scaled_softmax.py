import torch
import torch.nn as nn


class Model(nn.Module):
    """Softmax of scaled scores: softmax(x * scale)."""

    def __init__(self):
        super().__init__()
        self.scale = 0.125

    def forward(self, x):
        return torch.softmax(x * self.scale, dim=-1)


batch_size = 16
dim = 128


def get_inputs():
    return [torch.randn(batch_size, dim)]


def get_init_inputs():
    return []
