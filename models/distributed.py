"""Data-parallel training under `torchrun` (both trainers): the process group, the gradient average and the few
collectives the training loops need. Without torchrun's environment every call is a no-op for one process.

The trainers call their networks' parts directly (encode, decode, a domain head), which DistributedDataParallel's
forward hook would not see, so gradients are averaged explicitly: one all-reduce of all of them per step, the
same result DDP gives (without its overlap of communication and backward).
"""
from __future__ import annotations

import contextlib
import dataclasses
import os

import torch
import torch.distributed as dist


@dataclasses.dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def share(self, n: int) -> int:
        """This rank's part of a global batch of `n` (the parts differ by at most one and add up to n)."""
        return n // self.size + (self.rank < n % self.size)

    def device(self, name: str) -> torch.device:
        """`name` ("cpu" or "cuda"), on this rank's own GPU under torchrun."""
        device = torch.device(name)
        return torch.device("cuda", self.local_rank) if device.type == "cuda" and self.distributed else device

    def training_device(self, name: str, batch: int) -> torch.device:
        """This rank's device for a trainer whose global batch is `batch`, refusing what cannot run: a CUDA
        preset without a GPU, or fewer samples per step than processes."""
        device = self.device(name)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("this preset needs a CUDA GPU and torch sees none; use --preset cpu")
        if batch < self.size:
            raise ValueError(f"batch {batch} cannot be split over {self.size} processes; use at most "
                             f"{batch} (--nproc-per-node x --nnodes)")
        return device

    def main_only(self, log):
        """`log` on rank 0, a no-op on the others: one copy of every message."""
        return log if self.is_main else (lambda *_args, **_kwargs: None)

    def broadcast_module(self, module: torch.nn.Module) -> None:
        """Rank 0's parameters and buffers on every rank."""
        if self.distributed:
            for tensor in list(module.parameters()) + list(module.buffers()):
                dist.broadcast(tensor.data, 0)

    def broadcast_buffers(self, module: torch.nn.Module) -> None:
        """Rank 0's buffers (BatchNorm statistics) on every rank, as DDP keeps them."""
        buffers = [b for b in module.buffers() if b.dtype.is_floating_point]
        if self.distributed and buffers:
            flat = torch.cat([b.reshape(-1) for b in buffers])
            dist.broadcast(flat, 0)
            offset = 0
            for b in buffers:
                b.copy_(flat[offset:offset + b.numel()].view_as(b))
                offset += b.numel()

    def average_gradients(self, module: torch.nn.Module, weight: float = 1.0) -> None:
        """Replace each gradient by the weighted mean over the ranks (`weight`: this rank's share of the global
        batch times the world size, 1 for equal shares). A parameter without a gradient on every rank keeps
        none."""
        if not self.distributed:
            return
        params = [p for p in module.parameters() if p.requires_grad]
        has = torch.tensor([p.grad is not None for p in params], dtype=torch.float32)
        grads = [p.grad.reshape(-1) * weight if p.grad is not None else torch.zeros(p.numel(), device=p.device)
                 for p in params]
        flat = torch.cat(grads + [has.to(grads[0].device)])
        dist.all_reduce(flat)
        n = flat.numel() - len(params)
        summed, counts = flat[:n] / self.size, flat[n:]
        offset = 0
        for p, count in zip(params, counts):
            if count > 0:
                value = summed[offset:offset + p.numel()].view_as(p)
                if p.grad is None:
                    p.grad = value.clone()
                else:
                    p.grad.copy_(value)
            offset += p.numel()

    def agree(self, value: float) -> float:
        """Rank 0's `value` on every rank (a clock reading, a decision), so all ranks take the same branch."""
        if not self.distributed:
            return value
        t = torch.tensor([float(value)], dtype=torch.float64)
        dist.broadcast(t, 0)
        return float(t.item())

    def gather(self, obj) -> list:
        """Every rank's `obj`, in rank order, on every rank."""
        if not self.distributed:
            return [obj]
        out = [None] * self.size
        dist.all_gather_object(out, obj)
        return out

    @contextlib.contextmanager
    def main_first(self):
        """Rank 0 runs the block first (it builds the caches), the others once it has finished."""
        if self.distributed and not self.is_main:
            dist.barrier()
        yield
        if self.distributed and self.is_main:
            dist.barrier()


def launch_rank() -> int:
    """This process's rank as torchrun set it (0 without torchrun), before or after the process group."""
    return int(os.environ.get("RANK", "0"))


def start(device: str = "cpu") -> World:
    """The world torchrun describes in the environment (one process without it); joins the process group."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    world = World(launch_rank(), size, int(os.environ.get("LOCAL_RANK", "0")))
    if world.distributed and not dist.is_initialized():
        backend = "nccl" if torch.device(device).type == "cuda" else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(world.local_rank)
        dist.init_process_group(backend, rank=world.rank, world_size=world.size)
    return world


def stop(world: World, finished: bool = False) -> None:
    """Leave the process group. A run that `finished` waits for every rank first: a rank that tears the group down
    while another still talks to it can abort both; after an error nothing is waited for (the others may never
    come)."""
    if world.distributed and dist.is_initialized():
        if finished:
            dist.barrier()
        dist.destroy_process_group()


@contextlib.contextmanager
def session(device: str = "cpu"):
    """`start` ... `stop` around a run: a run that returns waits for every rank before leaving the group, one that
    raises leaves at once."""
    world = start(device)
    try:
        yield world
    except BaseException:
        stop(world)
        raise
    stop(world, finished=True)


def rank_rng(seed: int, world: World, saved: list | None = None, step: int = 0):
    """This rank's own data stream: its state in a checkpoint's per-rank list `saved` when there is one (a
    resume, perhaps with another world size), else fresh; rank 0 starts as a single process would (`seed`), the
    others from (seed, rank), or (seed, rank, step) when they join a resumed run."""
    import numpy as np

    if saved and world.rank < len(saved):
        rng = np.random.default_rng()
        rng.bit_generator.state = saved[world.rank]
        return rng
    if world.rank == 0 and not step:
        return np.random.default_rng(seed)
    return np.random.default_rng([seed, world.rank] + ([step] if step else []))
