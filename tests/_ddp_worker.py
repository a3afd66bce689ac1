"""Run by tests/test_distributed.py: a few DDP steps of the shared training loop.

Under torchrun each rank trains on its half of a fixed batch; alone it trains on the
whole batch. Rank 0 (or the single process) saves the final parameters.
"""

import sys

import torch
from torch import nn

from neuralode_repro import distributed
from neuralode_repro.training import OptimConfig, fit

torch.set_num_threads(1)
distributed.init(torch.device("cpu"))
rank, world = distributed.rank(), distributed.world_size()
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
gen = torch.Generator().manual_seed(1)
x, y = torch.randn(16, 3, generator=gen), torch.randn(16, 1, generator=gen)
shard = slice(rank * 16 // world, (rank + 1) * 16 // world)


def loss_fn(net, batch):
    xb, yb = batch
    return nn.functional.mse_loss(net(xb), yb), {}


fit(model, loss_fn, lambda _: [(x[shard], y[shard])] * 3, optim=OptimConfig(name="sgd", lr=0.1),
    epochs=1, steps_per_epoch=3, desc="ddp")
if distributed.is_main():
    torch.save([p.detach() for p in model.parameters()], sys.argv[1])
distributed.shutdown()
