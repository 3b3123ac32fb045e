import torch
import torch.nn as nn
import torch.nn.functional as F


class Model(nn.Module):
    """
    GELU on half-precision inputs.
    """

    def __init__(self):
        super(Model, self).__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(x)


batch_size = 8
dim = 64


def get_inputs():
    x = torch.randn(batch_size, dim).half()
    return [x]


def get_init_inputs():
    return []
