"""Running a scan in a second process: the Scanner port for large transaction files.

The scan (a generator, bot.services.file_scan.scan with its file bound) runs in a child process
and hands each batch over a pipe while the parent decides and writes the batches before it, so
both cores work. The parent may send the child one message (the enrolment keys) to filter by.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import suppress
from multiprocessing.connection import Connection
from typing import Any, Generic, TypeVar

from bot.errors import BotError

AHEAD = 3  # batches the scanner may have ready before the parent takes them
T = TypeVar("T")
Work = Callable[[Callable[[], frozenset[str] | None]], Iterator[Any]]


class BackgroundScan(Generic[T]):
    """Batches of a scan, run in a second process from the moment this is created.

    Use it as a context manager: leaving the block stops the process, whatever happened.
    """

    def __init__(self, work: Callable[[Callable[[], frozenset[str] | None]], Iterator[T]], *,
                 name: str) -> None:
        self._name = name
        context: Any = multiprocessing.get_context(_start_method())
        self._receive, send = context.Pipe(duplex=False)
        hear, self._tell = context.Pipe(duplex=False)
        self._worker = context.Process(target=_scan_worker, daemon=True, name="offerbot-scan",
                                       args=(send, hear, work))
        self._sharing: threading.Thread | None = None
        self._worker.start()
        send.close()
        hear.close()

    def share(self, enrolled: frozenset[str]) -> None:
        """Give the scanner the enrolment keys; it filters the batches it reads from then on.

        Sent from a thread: the scanner takes the keys only between batches, and the pipe holds
        far less than the keys, so sending here would stall this process meanwhile.
        """
        data = pickle.dumps(enrolled, pickle.HIGHEST_PROTOCOL)

        def send() -> None:
            with suppress(OSError):  # the scanner finished first: its batches come unfiltered
                self._tell.send_bytes(data)

        self._sharing = threading.Thread(target=send, name="offerbot-scan-share", daemon=True)
        self._sharing.start()

    def __enter__(self) -> BackgroundScan[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self._receive.close()
        if self._worker.is_alive():
            self._worker.kill()  # finished or not, nothing it still holds is wanted
        self._worker.join()
        if self._sharing is not None:
            self._sharing.join()  # the scanner is gone, so the send has ended
        self._tell.close()

    def __iter__(self) -> Iterator[T]:
        while True:
            try:
                # Our own child process on a private pipe: pickle is safe here.
                kind, payload = pickle.loads(self._receive.recv_bytes())  # noqa: S301
            except EOFError as exc:
                raise BotError(f"{self._name}: the file scanner stopped unexpectedly") from exc
            if kind == "batch":
                yield payload
            elif kind == "done":
                return
            else:
                raise BotError(f"{self._name}: the file scanner failed: {payload}")


def scan_in_second_process(work: Callable[[Callable[[], frozenset[str] | None]], Iterator[T]], *,
                           name: str) -> BackgroundScan[T]:
    """Start ``work`` in a second process (the Scanner bootstrap gives reconciliation)."""
    return BackgroundScan(work, name=name)


def _start_method() -> str:
    """Fork when this process has one thread: the scanner inherits its state at no cost.

    With threads running (the scheduler) forking is unsafe, so a fresh process is started and
    the state pickled to it instead.
    """
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return "fork"
    return "forkserver" if "forkserver" in methods else "spawn"


def _scan_worker(send: Connection, hear: Connection, work: Work) -> None:
    """Run ``work``, handing each pickled batch to a sender thread (AHEAD at most in hand).

    The scanner pickles; the thread only writes bytes, which releases the GIL, so reading
    goes on while the parent is busy with earlier batches. If the parent dies (kill -9), the
    scanner stops too rather than wait for it forever.
    """
    gc.set_threshold(50_000, 20, 100)  # see reconciliation: few collections over a large heap
    outbox: queue.Queue[bytes | None] = queue.Queue(maxsize=AHEAD)
    parent, stop = os.getppid(), threading.Event()

    def sender() -> None:
        try:
            while (data := outbox.get()) is not None:
                send.send_bytes(data)
        except OSError:  # the pipe broke: the parent has gone
            stop.set()

    def hand_over(data: bytes | None) -> bool:
        """Queue data for the sender; False once there is no one left to send it to."""
        while not stop.is_set() and os.getppid() == parent:
            try:
                outbox.put(data, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def enrolments() -> frozenset[str] | None:
        if not hear.poll():
            return None
        found: frozenset[str] = pickle.loads(hear.recv_bytes())  # noqa: S301 - from our parent
        return found

    thread = threading.Thread(target=sender, name="offerbot-scan-send", daemon=True)
    thread.start()
    try:
        for batch in work(enrolments):
            if not hand_over(pickle.dumps(("batch", batch), pickle.HIGHEST_PROTOCOL)):
                return
        hand_over(pickle.dumps(("done", None)))
    except Exception as exc:  # reported to the parent, which raises it
        hand_over(pickle.dumps(("error", f"{type(exc).__name__}: {exc}")))
    finally:
        if hand_over(None):
            thread.join()
        send.close()
