"""One capture on two cores: reader and early stages here, the last stages and the writer in a child.

The pipeline stays one pass with data flowing one way. This process reads chunks and runs
the stages before the split point; a child process (`CHILD_MAIN` in a fresh
interpreter, safe with threads as in Jupyter, and never re-running the caller's script as
multiprocessing's spawn would) runs the rest and writes the output. Chunks travel as a
few columns (lengths and small fields) through a pipe, and the packet data through
memory shared with the child (`Ring`, from which the child cuts its packets; joined through
the pipe where there is none). A thread writes them to the pipe from a bounded queue:
this process runs a few chunks ahead of the child (one in the pipe, SPLIT_AHEAD waiting,
one being made), so the child seldom waits for its next chunk, and memory stays flat.
The child answers each chunk with its part of the metrics and, at the end, its stages'
statistics and tables.

Output is byte-identical to a one-process run (tests check it); on any error the child
removes its temporary file and the error is raised here.

Modules: `~.wire` (a chunk as columns, the pipe's framing), `~.ring` (the shared memory),
`~.messages` (what the two sides say to each other), `~.child` (the second process) and
`~.run` (this side, `SplitRun`); `~.choice` decides whether a run splits.
"""

import importlib

from .choice import should_split, split_point

# the machinery loads when a run splits: a run in one process never imports it
_MACHINERY = {
    "DATA_HEADER": ".wire",
    "DataReceiver": ".wire",
    "Ring": ".ring",
    "SplitRun": ".run",
    "child_main": ".child",
    "pack": ".wire",
    "send_data": ".wire",
    "unpack": ".wire",
}

__all__ = [*sorted(_MACHINERY), "should_split", "split_point"]


def __getattr__(name: str):
    if name not in _MACHINERY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_MACHINERY[name], __name__), name)
