"""Reads every valgrind log `make check-mem` left and fails on a definite leak or a memory error.

Usage: scan_logs.py <log folder>

A log without valgrind's final ERROR SUMMARY is from a process that never finished: it
crashed, or was killed (a harness that gave up waiting for it to exit). That fails too, as
nothing was checked; the tests `make check-mem` runs never kill a server on purpose. Prints
each problem with its stack, then one line: processes checked (servers and their forked
BGSAVE / AOF rewrite children), bytes definitely lost, errors.
"""

import re
import sys
from pathlib import Path

ERROR_SUMMARY = re.compile(r"ERROR SUMMARY: ([\d,]+) errors from ([\d,]+) contexts")
DEFINITELY = re.compile(r"definitely lost: ([\d,]+) bytes in ([\d,]+) blocks")
# The first line of an error or leak record (a stack follows, then a blank line).
RECORD = re.compile(
    r"==\d+== (Invalid (read|write|free)|Mismatched free|Conditional jump|Use of uninitialised"
    r"|Syscall param|Source and destination overlap|Argument '.*' of function"
    r"|.* bytes in .* blocks are definitely lost)"
)


def number(text: str) -> int:
    return int(text.replace(",", ""))


def records(lines: list[str]) -> list[str]:
    """Each error or leak record of a log, with its stack."""
    out = []
    i = 0
    while i < len(lines):
        if RECORD.match(lines[i]):
            j = i + 1
            while j < len(lines) and lines[j].rstrip() not in ("", lines[i].split()[0]):
                j += 1
            out.append("".join(lines[i:j]))
            i = j
        else:
            i += 1
    return out


def main() -> int:
    folder = Path(sys.argv[1])
    logs = sorted(folder.glob("vg.*.log"))
    checked = unfinished = lost = errors = contexts = 0
    for log in logs:
        lines = log.read_text(errors="replace").splitlines(keepends=True)
        text = "".join(lines)
        summary = ERROR_SUMMARY.findall(text)
        if not summary:
            unfinished += 1
            command = next((l.split("Command: ", 1)[1] for l in lines if "Command: " in l), "?")
            print(f"== {log}: no summary, the process never finished: {command.strip()}")
            continue
        checked += 1
        n_errors, n_contexts = (number(n) for n in summary[-1])
        n_lost = sum(number(b) for b, _ in DEFINITELY.findall(text))
        errors += n_errors
        contexts += n_contexts
        lost += n_lost
        if n_errors or n_lost:
            print(f"== {log}: {n_errors} errors, {n_lost} bytes definitely lost")
            # --show-error-list repeats every record at exit: each is printed once.
            for r in dict.fromkeys(records(lines)):
                print(r)
    print(
        f"check-mem: {checked} processes checked, {unfinished} unfinished, "
        f"{lost} bytes definitely lost, {errors} errors ({contexts} distinct)"
    )
    if not logs:
        print("check-mem: no valgrind log: did the tests run the server under valgrind?")
        return 1
    return 1 if lost or errors or unfinished else 0


if __name__ == "__main__":
    sys.exit(main())
