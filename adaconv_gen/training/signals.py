"""Stop a run cleanly on SIGINT / SIGTERM (Ctrl-C, a scheduler's preemption).

The handler only records the signal. After every optimisation step the processes all-reduce
it (MAX), so a signal that reached one process only stops every process at the same step, and
all of them take part in the checkpoint that ``accelerator.save_state`` needs. A second signal
during the save is recorded and ignored: the save completes. A third one is the escape hatch for
a step that never ends: the previous handlers come back and the signal is delivered again
(the process stops at once, without a checkpoint). DataLoader workers ignore both
signals (they stop when their process stops), so a Ctrl-C does not kill them mid-batch.
"""

from __future__ import annotations

import os
import signal

import torch

__all__ = ["StopSignal", "ignore_stop_signals_in_workers", "SIGNAL_EXIT_CODES"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
SIGNAL_EXIT_CODES = {int(signal.SIGINT): 130, int(signal.SIGTERM): 143}


class StopSignal:
    """Record SIGINT / SIGTERM; :meth:`agreed` is the signal every process acts on (0: none)."""

    def __init__(self) -> None:
        self.signum = 0
        self.count = 0
        self._previous: dict[int, object] = {}

    def install(self) -> StopSignal:
        """Replace the handlers of SIGINT and SIGTERM (main thread only)."""
        for s in STOP_SIGNALS:
            self._previous[s] = signal.signal(s, self._handler)
        return self

    def restore(self) -> None:
        """Put the previous handlers back."""
        for s, h in self._previous.items():
            signal.signal(s, h)
        self._previous.clear()

    def _handler(self, signum, frame) -> None:
        self.count += 1
        if not self.signum:
            self.signum = int(signum)
        if self.count >= 3:
            self.restore()
            os.kill(os.getpid(), signum)

    def agreed(self, accelerator) -> int:
        """The signal all processes stop for (MAX over processes; 0: keep going). Call on every
        process after every optimisation step."""
        if accelerator.num_processes == 1 or not torch.distributed.is_initialized():
            return self.signum
        t = torch.tensor([self.signum], dtype=torch.int64, device=accelerator.device)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        return int(t.item())


def _ignore_stop_signals(worker_id: int, _then=None) -> None:
    for s in STOP_SIGNALS:
        signal.signal(s, signal.SIG_IGN)
    if _then is not None:
        _then(worker_id)


class _WorkerInit:
    """Picklable ``worker_init_fn``: ignore the stop signals, then run the loader's own init."""

    def __init__(self, then=None) -> None:
        self.then = then

    def __call__(self, worker_id: int) -> None:
        _ignore_stop_signals(worker_id, self.then)


def ignore_stop_signals_in_workers(*loaders) -> None:
    """Make the workers of these DataLoaders ignore SIGINT and SIGTERM (call before ``prepare``)."""
    for loader in loaders:
        if not isinstance(loader.worker_init_fn, _WorkerInit):
            loader.worker_init_fn = _WorkerInit(loader.worker_init_fn)
