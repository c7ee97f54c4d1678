"""Multi-process training helpers: process group from ``torchrun``, sharding, reductions.

Single-process training uses the same code with ``world_size == 1``, so the
data order and the arithmetic of a global batch are identical however many
processes share it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler

log = logging.getLogger(__name__)


@dataclass
class DistContext:
    """Where this process stands: rank, world size, device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @classmethod
    def from_env(cls, device_type: str) -> "DistContext":
        """Join the process group ``torchrun`` describes in the environment, if any.

        NCCL on CUDA, gloo on CPU. Without ``WORLD_SIZE > 1`` this is a
        single process and nothing is initialised.
        """
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        owns = False
        if not dist.is_initialized():
            backend = "nccl" if device_type == "cuda" else "gloo"
            if device_type == "cuda":
                torch.cuda.set_device(local)
            dist.init_process_group(backend=backend)
            owns = True
            log.info("rank %d/%d joined the %s process group", rank, world, backend)
        return cls(rank, world, local, owns)

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum over ranks, in place; a no-op for one process."""
        if self.enabled:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def mean(self, value: float, device: torch.device) -> float:
        """Mean of a Python number over ranks."""
        if not self.enabled:
            return float(value)
        t = torch.tensor([float(value)], dtype=torch.float64, device=device)
        return float(self.all_reduce_sum(t).item()) / self.world_size

    def any(self, flag: bool, device: torch.device) -> bool:
        """True if ``flag`` is true on any rank."""
        if not self.enabled:
            return bool(flag)
        t = torch.tensor([1.0 if flag else 0.0], device=device)
        return bool(self.all_reduce_sum(t).item() > 0)

    def broadcast_buffers(self, module: torch.nn.Module) -> None:
        """Give every rank rank 0's buffers (batch-norm running statistics)."""
        if self.enabled:
            for buf in module.buffers():
                dist.broadcast(buf, src=0)


class GlobalBatchSampler(DistributedSampler):
    """A ``DistributedSampler`` that yields this rank's micro-batches of ``(epoch, index)``.

    Each epoch shuffles all frames with a generator seeded by ``seed + epoch``
    (as ``DistributedSampler`` does) and cuts the permutation into global
    batches of ``batch_size * accumulation * world_size`` frames; whatever
    does not fill a global batch is dropped (frames are recycled when there
    are fewer than one global batch). With ``drop_last=False`` (the authors'
    code) those frames form one last, smaller global batch instead, cut into
    near-equal micro-batches (recycling frames only if there are fewer of
    them than micro-batches). Global batch ``k`` holds the same
    frames however it is split: micro-batch ``m`` of rank ``r`` is block
    ``m * world_size + r`` of it. So two processes with batch B train on
    exactly what one process with batch B and accumulation 2 sees.
    ``set_epoch(epoch, start_step)`` starts mid-epoch after a resume.
    """

    def __init__(
        self,
        num_frames: int,
        batch_size: int,
        accumulation: int = 1,
        num_replicas: int = 1,
        rank: int = 0,
        seed: int = 0,
        shuffle: bool = True,
        drop_last: bool = True,
    ) -> None:
        super().__init__(range(num_frames), num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed)
        self.num_frames = num_frames
        self.batch_size, self.accumulation = batch_size, accumulation
        self.drop_last = drop_last
        self.start_step = 0

    @property
    def global_batch(self) -> int:
        return self.batch_size * self.accumulation * self.num_replicas

    @property
    def smallest_batch(self) -> int:
        """Frames in the smallest micro-batch of an epoch, on any rank (the last batch's parts without drop_last)."""
        rest = self.num_frames % self.global_batch
        if self.drop_last or rest == 0:
            return self.batch_size
        return max(1, rest // (self.accumulation * self.num_replicas))

    @property
    def steps_per_epoch(self) -> int:
        if not self.drop_last:
            return max(1, -(-self.num_frames // self.global_batch))
        return max(1, self.num_frames // self.global_batch)

    def set_epoch(self, epoch: int, start_step: int = 0) -> None:
        super().set_epoch(epoch)
        self.start_step = start_step

    def __len__(self) -> int:
        return (self.steps_per_epoch - self.start_step) * self.accumulation

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.num_frames, generator=g).tolist()
        else:
            order = list(range(self.num_frames))
        parts = self.accumulation * self.num_replicas
        need = self.steps_per_epoch * self.global_batch if self.drop_last else 0
        while len(order) < need:
            order = order + order[: need - len(order)]
        b = self.batch_size
        for step in range(self.start_step, self.steps_per_epoch):
            base = step * self.global_batch
            frames = order[base:base + self.global_batch]
            if len(frames) < parts:  # too few left for one frame per micro-batch: recycle
                frames = frames + [order[k % len(order)] for k in range(parts - len(frames))]
            for micro in range(self.accumulation):
                part = micro * self.num_replicas + self.rank
                if len(frames) == self.global_batch:
                    chunk = frames[part * b:(part + 1) * b]
                else:  # the last, partial batch of drop_last=False: near-equal parts
                    q, r = divmod(len(frames), parts)
                    start = part * q + min(part, r)
                    chunk = frames[start:start + q + (part < r)]
                yield [(self.epoch, i) for i in chunk]
