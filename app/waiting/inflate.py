"""Inflate a kept report's gzip files straight to disk, within a budget.

A kept report is what a test's finisher sent, so its locustfile's author chose the bytes: 1 MiB
of ConfigMap can be three gzip bombs of 255 MiB each (zeros compress 1,000:1). Inflating each
in memory first cost 7 GiB and wrote 765 MiB. Here a file is inflated a chunk at a time into
its file, and no file may pass :data:`FILE_LIMIT` nor all of them :data:`TOTAL_LIMIT`: the
first to try is refused, and the files written so far are removed, as a half-written report
would mislead.
"""

import zlib
from pathlib import Path
from typing import BinaryIO

MIB = 1024 * 1024
# Locust's own page for 5,000 request names is 3.6 MB; its other files are smaller.
FILE_LIMIT = 32 * MIB
# All the files of one report together. With wait's own files beside them (summary, stats,
# JUnit, Markdown: made from a summary within a pod's 256 KiB of annotations, a few MiB at
# most), a CI runner's disk is asked for 64 MiB at most.
TOTAL_LIMIT = 60 * MIB
# Inflated bytes held at once.
CHUNK = MIB


class InflateError(Exception):
    """A file that is not gzip, or passes its budget; the message is one line."""


class TooLargeError(InflateError):
    """A file that inflates past :data:`FILE_LIMIT` or the report past :data:`TOTAL_LIMIT`."""


class Budget:
    """What the files of one report may still take, and the files written so far."""

    def __init__(self, total: int = TOTAL_LIMIT, per_file: int = FILE_LIMIT) -> None:
        self.left = total
        self.total = total
        self.per_file = per_file
        self.written: list[Path] = []

    def take(self, name: str, size: int, so_far: int) -> None:
        """Account ``size`` more bytes of ``name`` (``so_far`` of it already written)."""
        if so_far + size > self.per_file:
            raise TooLargeError(f"{name} inflates to over {self.per_file // MIB} MiB")
        if size > self.left:
            raise TooLargeError(f"the kept files inflate to over {self.total // MIB} MiB in all")
        self.left -= size

    def undo(self) -> None:
        """Remove every file written under this budget."""
        for path in self.written:
            path.unlink(missing_ok=True)
        self.written.clear()


def _inflate_into(gzipped: bytes, file: BinaryIO, name: str, budget: Budget) -> int:
    inflater = zlib.decompressobj(wbits=31)
    written, pending = 0, gzipped
    try:
        while not inflater.eof:
            chunk = inflater.decompress(pending, CHUNK)
            pending = inflater.unconsumed_tail
            if not chunk and not pending:
                raise InflateError(f"{name}: not gzip: truncated")
            budget.take(name, len(chunk), written)
            file.write(chunk)
            written += len(chunk)
    except zlib.error as error:
        raise InflateError(f"{name}: not gzip: {error}") from None
    return written


def inflate_to(gzipped: bytes, path: Path, budget: Budget) -> int:
    """Inflate one gzip member into ``path``; the bytes written.

    Raises:
        InflateError: not gzip (``path`` is removed), or :class:`TooLargeError` past the
            budget (``path`` and every file written under ``budget`` are removed).
        OSError: when ``path`` cannot be written.
    """
    budget.written.append(path)
    try:
        with path.open("wb") as file:
            return _inflate_into(gzipped, file, path.name, budget)
    except TooLargeError:
        budget.undo()
        raise
    except InflateError:
        budget.written.remove(path)
        path.unlink(missing_ok=True)
        raise


def inflate_bytes(gzipped: bytes, name: str, limit: int) -> bytes:
    """One gzip member in memory, at most ``limit`` bytes (for a file that is parsed).

    Raises:
        InflateError: not gzip, or :class:`TooLargeError` past ``limit``.
    """
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(gzipped, limit)
    except zlib.error as error:
        raise InflateError(f"{name}: not gzip: {error}") from None
    if inflater.unconsumed_tail or (not inflater.eof and len(out) >= limit):
        raise TooLargeError(f"{name} inflates to over {limit // MIB} MiB")
    if not inflater.eof:
        raise InflateError(f"{name}: not gzip: truncated")
    return out
