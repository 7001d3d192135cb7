"""Running a helper program (``postqueue -j``): its output read with a size
cap and within the run's deadline, the program killed at either limit, and
the result saying which one it hit. A program that floods, hangs or ignores
its input can neither exhaust memory nor outlive ``-t``."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from check_mail.files import size

if TYPE_CHECKING:
    from check_mail.deadline import Deadline

MAX_STDERR = 64 * 1024  # octets: a program's complaint, not a listing
BLOCK = 64 * 1024


@dataclass(frozen=True)
class Ran:
    """What a program did. ``limit`` says why it was stopped ("" when it ended
    on its own); ``missing`` that it is not installed."""

    program: str  # its file name, for messages
    status: int  # exit status, or -signal; meaningless when stopped or missing
    stdout: bytes = b""
    stderr: bytes = b""
    limit: str = ""
    missing: bool = False
    error: str = ""  # why it could not be started

    @property
    def complaint(self) -> str:
        """The last line it wrote on stderr, or its exit status."""
        lines = self.stderr.decode("utf-8", "replace").strip().splitlines()
        return lines[-1] if lines else f"exit status {self.status}"


def run(command: list[str], deadline: Deadline, max_output: int) -> Ran:
    """Run ``command`` without input, reading at most ``max_output`` octets
    of its output until it ends or the deadline comes."""
    program = os.path.basename(command[0])
    try:
        child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, start_new_session=True)
    except FileNotFoundError:
        return Ran(program, -1, missing=True, error=f"{command[0]} not found")
    except OSError as exc:
        return Ran(program, -1, error=f"{command[0]}: {exc.strerror or exc}")
    assert child.stdout is not None and child.stderr is not None
    out, err = child.stdout.fileno(), child.stderr.fileno()
    outputs = {out: bytearray(), err: bytearray()}
    caps = {out: max_output, err: MAX_STDERR}
    started = time.monotonic()
    limit = ""
    with selectors.DefaultSelector() as selector:
        for fd in outputs:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map() and not limit:
            left = deadline.remaining()
            if left <= 0:
                limit = _late(started)
                break
            for key, _ in selector.select(left):
                data = os.read(key.fd, BLOCK)
                if not data:
                    selector.unregister(key.fd)
                    continue
                outputs[key.fd] += data
                if len(outputs[key.fd]) > caps[key.fd]:
                    limit = f"it printed more than {size(caps[key.fd])}"
                    break
    status = _end(child, deadline, stop=bool(limit))
    child.stdout.close()
    child.stderr.close()
    if status is None:
        return Ran(program, -1, limit=limit or _late(started))
    return Ran(program, status, bytes(outputs[out]), bytes(outputs[err]))


def _late(started: float) -> str:
    return f"it had not finished after {time.monotonic() - started:.1f} s, when -t ran out"


def _end(child: subprocess.Popen[bytes], deadline: Deadline, stop: bool) -> int | None:
    """Wait for a child that closed its output (killing it at the deadline),
    or kill it at once (``stop``): its exit status, None when it was killed."""
    if not stop:
        try:
            return child.wait(max(deadline.remaining(), 0.01))
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(child.pid, signal.SIGKILL)  # its children too: it leads its own session
    except OSError:
        child.kill()
    child.wait()
    return None
