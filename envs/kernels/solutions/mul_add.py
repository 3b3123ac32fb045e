import torch
import torch.nn as nn
import triton
import triton.language as tl


@triton.jit
def mul_add_kernel(x_ptr, y_ptr, z_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask)
    y = tl.load(y_ptr + offs, mask=mask)
    z = tl.load(z_ptr + offs, mask=mask)
    tl.store(out_ptr + offs, x * y + z, mask=mask)


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x, y, z):
        x = x.contiguous()
        out = torch.empty_like(x)
        n = x.numel()
        mul_add_kernel[(triton.cdiv(n, 1024),)](x, y.contiguous(), z.contiguous(), out, n, BLOCK=1024)
        return out
