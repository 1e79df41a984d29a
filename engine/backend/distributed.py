"""Several processes (torchrun): DistributedDataParallel with NCCL on GPUs and gloo on CPU,
each rank taking its share of every epoch, metrics summed across ranks, and a barrier before
the process group goes away after a run that ended well (ranks sometimes die at exit without
it). A failure must end every rank: one that all ranks can see (a non-finite loss) is decided
together at the same step; after any other the failing rank leaves without the barrier, so
torchrun stops its peers (on gloo their next collective fails at once) instead of all waiting
out the timeout."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    size: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def from_environment() -> World:
    """torchrun's WORLD_SIZE, RANK and LOCAL_RANK, or a single process."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    return World(size, int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0")))


def init(world: World, device: torch.device) -> None:
    if not world.enabled or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend, timeout=timedelta(minutes=30))


def shutdown(world: World, failed: bool = False) -> None:
    """End the process group: after a barrier when the run ended well; at once after a
    failure (a rank that raised mid-step would otherwise wait in the barrier while its
    peers wait for it in their next all-reduce)."""
    if not (world.enabled and dist.is_initialized()):
        return
    if not failed:
        dist.barrier()
        dist.destroy_process_group()
        return
    try:
        dist.destroy_process_group()
    except Exception:  # the run's own error is the one to report
        pass


def peer_failed(exc: BaseException) -> bool:
    """Whether a collective failed because another rank went away (gloo: the connection is
    closed by the peer; NCCL: DistBackendError). That rank reports its own error."""
    return isinstance(exc, dist.DistBackendError) or (
        isinstance(exc, RuntimeError) and "by peer" in str(exc))


def shard(order: torch.Tensor, world: World, pad: bool = True) -> torch.Tensor:
    """This rank's indices, as DistributedSampler picks them: the order padded (by wrapping)
    to a multiple of the world size so every rank takes the same number of steps."""
    if not world.enabled:
        return order
    if pad and len(order) % world.size:
        extra = world.size - len(order) % world.size
        order = torch.cat([order, order[:extra]])
    return order[world.rank::world.size]


def sum_all(tensors: list[torch.Tensor], world: World) -> None:
    """Sum tensors in place across ranks."""
    if not world.enabled:
        return
    for t in tensors:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)


def broadcast_buffers(module: torch.nn.Module, world: World) -> None:
    """Rank 0's BatchNorm statistics to every rank. DDP broadcasts buffers before each
    forward, so after the last step each rank holds its own; this makes validation and the
    final weights the same everywhere."""
    if not world.enabled:
        return
    for buffer in module.buffers():
        dist.broadcast(buffer, src=0)


def max_all(values: list[float], world: World, device: torch.device) -> list[float]:
    """Each value's maximum over all ranks, in one small all-reduce."""
    if not world.enabled:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t.tolist()


def any_rank(flag: bool, world: World, device: torch.device) -> bool:
    """True on every rank when it is true on any (a stop request must reach all ranks at
    the same step, or the others would wait forever in the next all-reduce)."""
    return max_all([1.0 if flag else 0.0], world, device)[0] > 0


def agree_on_losses(stop: bool, first: tuple[int, float] | None, world: World,
                    device: torch.device) -> tuple[bool, tuple[int, float] | None]:
    """Over all ranks, in one small all-reduce: whether any asked to stop, and the earliest
    (step, value) of a non-finite loss of any rank (None when every loss was finite)."""
    # The maximum of -(3·step + kind) is the earliest bad step, with its value's kind.
    kinds = (math.nan, math.inf, -math.inf)
    key = -math.inf if first is None else -(
        3 * first[0] + (0 if math.isnan(first[1]) else 1 if first[1] > 0 else 2))
    flag, key = max_all([float(stop), key], world, device)
    if key > -math.inf:
        step, kind = divmod(int(-key), 3)
        first = (step, kinds[kind])
    return flag > 0, first
