"""PRG rules: the ``[Process: k/N]`` lines a script prints on stdout, judged on the whole run.

PRG001 and PRG004 judge only a run that ended by itself with status 0: a crash or a timeout is reported by
RUN001/RUN002, whose message says after which epoch the run stopped, and counting its progress lines again
would only repeat that.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator

from pie_conformance.facts import RunRecord
from pie_conformance.findings import Problem
from pie_conformance.rules import Phase, rule

_PRINT_HINT = (
    'after each epoch, once its outputs are on disk: print(f"[Process: {epoch + 1}/{epochs}]", flush=True)'
)
_DIGITS = re.compile(r"\d+")
#: Seconds: progress lines that all arrive within this time came with one flush (at exit).
_AT_EXIT = 0.05
#: Seconds: the unbuffered run must print its first and last progress lines this far apart to judge PRG006.
_MIN_SPREAD = 0.2


@rule("PRG001", phase=Phase.RUN)
def at_least_one_progress_line(run: RunRecord) -> Iterator[Problem]:
    """At least one progress line ``[Process: k/N]``."""
    if run.progress or not run.ended_normally:
        return
    near = len(run.near_misses)
    got = f"none ({near} line{'s' * (near != 1)} look like one, see PRG002)" if near else "none"
    yield Problem(
        f"expected at least one progress line `[Process: k/N]` on stdout, got {got}",
        hint="the platform counts epochs by these lines; " + _PRINT_HINT,
    )


def _near_miss_hint(text: str) -> str:
    # Name the most likely slip first: it is what the author has to change.
    if re.search(r"\[?process", text) and not re.search(r"Process", text):
        why = "the word is `Process` with a capital P"
    elif re.search(r"(?i)process:\d", text):
        why = "one space is needed after the colon"
    elif re.search(r"\d\s+/|/\s+\d", text):
        why = "no spaces around the `/`"
    elif not text.lstrip().startswith("[") or "]" not in text:
        why = "the line needs the square brackets"
    else:
        why = "nothing may stand before or after the brackets on that line (print other text on its own line)"
    return f"{why}; the platform matches the line exactly: print(f\"[Process: {{k}}/{{N}}]\", flush=True)"


@rule("PRG002", phase=Phase.RUN)
def near_miss_progress_lines(run: RunRecord) -> Iterator[Problem]:
    """A line that looks like a progress line but is not exactly the format."""
    # One finding per shape of line ("[process: #/#]"), so a slip repeated every epoch reads once.
    groups: dict[str, list] = defaultdict(list)
    for pl in run.near_misses:
        groups[_DIGITS.sub("#", pl.text)].append(pl)
    for lines in groups.values():
        first = lines[0]
        more = f" (and {len(lines) - 1} more line{'s' * (len(lines) != 2)} like it)" if len(lines) > 1 else ""
        yield Problem(
            f"expected a progress line exactly `[Process: {first.k}/{first.n}]`, got {first.text!r}{more}",
            hint=_near_miss_hint(first.text),
            epoch=first.k,
            line=first.line,
        )


@rule("PRG003", phase=Phase.RUN)
def progress_sequence(run: RunRecord) -> Iterator[Problem]:
    """k starts at 1 and rises by 1; N equals ``epochs`` throughout."""
    epochs = run.epochs
    wrong_n = [pl for pl in run.progress if pl.n != epochs]
    if wrong_n:
        first = wrong_n[0]
        more = f" ({len(wrong_n)} lines in all)" if len(wrong_n) > 1 else ""
        yield Problem(
            f"expected N = {epochs} (the traincfg's epochs) in every progress line, got {first.text!r}{more}",
            hint="print the epochs the platform sent (int(params['epochs'])), not a constant or a count "
            "of batches",
            epoch=first.k,
            line=first.line,
        )
    prev: int | None = None
    for pl in run.progress:
        if prev is not None and pl.k == prev:
            continue  # the same k again is PRG005
        expected = 1 if prev is None else prev + 1
        if pl.k != expected:
            if prev is None:
                msg = f"expected the first progress line to announce k = 1, got {pl.text!r}"
                hint = "k is the number of epochs done: with `for epoch in range(epochs)` print epoch + 1"
            else:
                msg = f"expected k = {expected} after k = {prev}, got {pl.text!r}"
                hint = "print one progress line per epoch, k rising by one: 1, 2, ..., N"
            yield Problem(msg, hint=hint, epoch=pl.k, line=pl.line)
            return  # the rest of the sequence follows from the first break
        prev = pl.k


@rule("PRG004", phase=Phase.RUN)
def progress_count(run: RunRecord) -> Iterator[Problem]:
    """With ``auto_termination`` 0 exactly ``epochs`` progress lines; with 1, between 1 and ``epochs``."""
    if not run.ended_normally or not run.progress:
        return
    epochs = run.epochs
    count = len({pl.k for pl in run.progress})
    auto = str(run.traincfg.get("auto_termination", 0)) == "1"
    if auto and 1 <= count <= epochs:
        return
    if not auto and count == epochs:
        return
    want = f"between 1 and {epochs}" if auto else f"exactly {epochs}"
    last = run.progress[-1]
    if count < epochs:
        hint = (
            "the script exited with status 0 before its last epoch; with auto_termination 0 it must train "
            "every epoch (stop early only when auto_termination is 1)"
        )
    else:
        hint = "print one progress line per epoch, not per batch or per phase"
    yield Problem(
        f"expected {want} progress lines (auto_termination {int(auto)}), got {count} "
        f"(the last: {last.text!r})",
        hint=hint,
        epoch=last.k,
        line=last.line,
    )


@rule("PRG005", phase=Phase.RUN)
def repeated_progress_lines(run: RunRecord) -> Iterator[Problem]:
    """The same k printed more than once."""
    lines: dict[int | None, list[int]] = defaultdict(list)
    for pl in run.progress:
        lines[pl.k].append(pl.line)
    for k, where in lines.items():
        if len(where) > 1:
            shown = ", ".join(str(n) for n in where[:5]) + (", ..." if len(where) > 5 else "")
            yield Problem(
                f"expected one progress line for k = {k}, got {len(where)} (stdout lines {shown})",
                hint="the platform uploads the outputs at every progress line: print it once, after "
                "the epoch",
                epoch=k,
                line=where[1],
            )


@rule("PRG006", phase=Phase.RUN, scenarios=("baseline",), opt_in="check_buffering",
      scope_note="it needs a second run of the script without PYTHONUNBUFFERED")
def unflushed_progress_lines(run: RunRecord) -> Iterator[Problem]:
    """Progress lines only reach a pipe when the process exits (stdout not flushed)."""
    probe = run.buffering
    if probe is None or len(probe.arrivals) < 2 or len(probe.reference_arrivals) < 2:
        return  # one line cannot show a burst: the check needs two epochs or more
    # The unbuffered run shows how far apart the script prints its lines; if that is too short, a burst
    # in the buffered run proves nothing.
    spread = probe.reference_arrivals[-1] - probe.reference_arrivals[0]
    if spread < _MIN_SPREAD:
        return
    burst = probe.arrivals[-1] - probe.arrivals[0]
    if burst <= min(_AT_EXIT, spread / 4):
        n = len(probe.arrivals)
        yield Problem(
            f"expected each progress line to reach the pipe when printed, got all {n} of them at once, "
            "when the process ended, in a run without PYTHONUNBUFFERED (with it, they came epochs apart)",
            hint="stdout is a pipe on the platform, where Python buffers it in blocks: "
            "print(..., flush=True) or call sys.stdout.flush() after each progress line",
        )
