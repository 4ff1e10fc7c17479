"""Where a command's data goes: stdout, or the file of ``-o`` written so that
nothing is ever lost.

``-o FILE`` is refused (exit 2) when FILE is, or links to, a file the run
reads (a spec; for ``tables`` the seed data and the specs folder's files).
The data is written to a temporary file in FILE's folder, flushed to disk,
then renamed over FILE in one step (os.replace): a run that fails, is
interrupted (Ctrl-C, kill -9) or races another writer leaves FILE as it was,
byte for byte, or complete. Through a symbolic link, the file it points to is
replaced. A FILE that is not a regular file (/dev/null, /dev/stdout, a FIFO)
is written in place. A missing folder, a folder that cannot be written, a full disk:
a usage error (exit 2) naming the file, never an internal error."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

import click

from cnnsize.commands.outcome import usage_error

OUTPUT_HELP = "Write to FILE instead of stdout (atomically; never onto an input)."


def output_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The ``-o/--output FILE`` option of every command that writes data."""
    return click.option("-o", "--output", type=click.Path(dir_okay=False), metavar="FILE", help=OUTPUT_HELP)(fn)


def _special(output: str) -> bool:
    """An existing FILE that is not a regular file (a device, a FIFO, a
    terminal): there is no previous content to keep, and replacing it would
    be wrong (``-o /dev/null`` run as root would replace the device)."""
    try:
        return not stat.S_ISREG(os.stat(output).st_mode)
    except OSError:
        return False


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def guard(output: str | None, inputs: Iterable[str] = ()) -> None:
    """Refuse, before any work, an -o that would destroy an input or that
    cannot be written at all."""
    if output is None:
        return
    if not output:
        usage_error("-o '': give a file name")
    if _special(output):
        return  # /dev/null, /dev/stdout, a FIFO: written in place, nothing to lose or to link
    target = os.path.realpath(output)
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        usage_error(f"-o {output!r}: no such folder {os.path.dirname(output) or '.'!r}")
    if os.path.isdir(target):
        usage_error(f"-o {output!r}: is a folder")
    try:
        out_st = os.stat(target)
    except OSError:
        out_st = None
    if out_st is not None:
        for path in inputs:
            try:
                in_st = os.stat(path)
            except OSError:
                continue  # a missing input is the loader's error to report
            if _same_file(out_st, in_st):
                usage_error(
                    f"-o {output!r} is the input {path!r}"
                    + ("" if os.path.abspath(output) == os.path.abspath(path) else " (the same file through a link)")
                    + "; writing it would destroy the input: choose another file"
                )
    if out_st is not None and not os.access(target, os.W_OK):
        usage_error(f"-o {output!r}: the file is read-only")
    if not os.access(folder, os.W_OK | os.X_OK):
        usage_error(f"-o {output!r}: cannot write in folder {os.path.dirname(output) or '.'!r}")


def _cannot_write(output: str, exc: OSError) -> None:
    usage_error(f"-o {output!r}: cannot write: {exc.strerror or exc}; the file was left as it was")


@contextmanager
def opened(output: str) -> Iterator[TextIO]:
    """A text file to write ``output``'s new content into; it replaces
    ``output`` only when the block ends without an exception."""
    if _special(output):
        try:
            with open(output, "w", encoding="utf-8") as fh:
                yield fh
        except OSError as exc:
            _cannot_write(output, exc)
        return
    target = os.path.realpath(output)
    folder, name = os.path.split(target)
    try:
        mode = os.stat(target).st_mode & 0o7777
    except OSError:
        mode = None
    tmp = None
    for attempt in range(100):
        candidate = os.path.join(folder, f".{name}.{os.getpid()}.{attempt}.tmp")
        try:
            # 0o666 less the umask, as open() would create it
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        except OSError as exc:
            _cannot_write(output, exc)
        tmp = candidate
        break
    if tmp is None:
        usage_error(f"-o {output!r}: cannot create a temporary file in {folder!r}")
    done = False
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)  # the replaced file keeps its permissions
        os.replace(tmp, target)
        done = True
    except OSError as exc:
        _cannot_write(output, exc)
    finally:
        if not done:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def emit(text: str, output: str | None) -> None:
    """Data to FILE (-o) or stdout; diagnostics never come through here."""
    if output:
        with opened(output) as fh:
            fh.write(text)
    else:
        click.echo(text, nl=not text.endswith("\n"))


def emit_rich(draw: Callable[[Any], None], output: str | None, file_width: int, pipe_width: int) -> None:
    """Data drawn by rich on a Console: FILE at ``file_width`` columns, a
    terminal at its own width, a pipe at ``pipe_width``."""
    from rich.console import Console

    if output:
        with opened(output) as fh:
            draw(Console(file=fh, width=file_width))
    else:
        con = Console()
        draw(con if con.is_terminal else Console(width=pipe_width))
