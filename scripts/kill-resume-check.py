#!/usr/bin/env python3
"""Kill-and-resume check: does a run killed with SIGKILL at a random step, then resumed with
`--resume`, end exactly as the same run never interrupted?

    scripts/kill-resume-check.py [--bin PATH] [--kills N] [--seed S] [--command train|pretrain] -- ARGS...

ARGS are the run's flags (without --runs-dir), e.g.
    -- --model ~/.cache/bertbench/all-MiniLM-L6-v2 --train datasets/sotu-era/train.csv --epochs 2 --save-every 5

It runs ARGS once uninterrupted (the reference), then N times: start, SIGKILL at a random step
(drawn between the first and the last step), resume until it ends (killing it again is not
done), and compares with the reference every step's loss and the final summary's figures
(validation, test, masked-LM, steps, best step). Prints one line per kill and "M of N exact".
Exit status 0 only when all N match. Runs are written under a temporary folder (--keep keeps it).

Standard library only.
"""

import argparse
import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMPARED = ("valid", "test", "pretrain", "steps", "best_step", "status", "epochs")


def run_dir(runs: Path) -> Path:
    dirs = [d for d in runs.iterdir() if d.is_dir()]
    if len(dirs) != 1:
        raise SystemExit(f"expected one run in {runs}, found {len(dirs)}")
    return dirs[0]


def steps_of(run: Path):
    """(step, loss text) of every step event, in log order; a torn last line is skipped."""
    events = run / "events.jsonl"
    if not events.exists():
        return []
    out = []
    for line in events.read_text().splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if event.get("event") == "step":
            out.append((event["step"], repr(event["loss"])))
    return out


def result_of(run: Path):
    summary = json.loads((run / "summary.json").read_text())
    return steps_of(run), {k: summary.get(k) for k in COMPARED}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default="target/release/bertbench", help="the bertbench binary")
    parser.add_argument("--kills", type=int, default=5, help="interrupted runs to compare")
    parser.add_argument("--seed", type=int, default=0, help="seeds the kill steps")
    parser.add_argument("--command", default="train", choices=["train", "pretrain"])
    parser.add_argument("--keep", action="store_true", help="keep the runs folder")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    a = parser.parse_args()
    args = [x for x in a.args if x != "--"]
    rng = random.Random(a.seed)
    root = Path(tempfile.mkdtemp(prefix="kill-resume-"))
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}

    def train(runs: Path, *extra):
        return [a.bin, a.command, *args, "--runs-dir", str(runs), *extra]

    reference = root / "reference"
    began = time.monotonic()
    subprocess.run(train(reference), check=True, **quiet)
    took = time.monotonic() - began
    want_steps, want_summary = result_of(run_dir(reference))
    total = len(want_steps)
    print(f"reference: {total} steps in {took:.1f} s, final {want_summary['status']}")
    exact = 0
    for i in range(a.kills):
        runs = root / f"killed-{i + 1}"
        at = rng.randint(1, max(1, total - 1))
        child = subprocess.Popen(train(runs), **quiet)
        while child.poll() is None:
            dirs = list(runs.glob("*/events.jsonl"))
            if dirs and len(steps_of(dirs[0].parent)) >= at:
                break
            time.sleep(0.02)
        killed_at = None
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            child.wait()
            killed_at = len(steps_of(run_dir(runs)))
        run = run_dir(runs)
        saved = None
        state = run / "state.safetensors"
        if state.exists():
            saved = "state"
        subprocess.run([a.bin, a.command, "--resume", run.name, "--runs-dir", str(runs)], check=False, **quiet)
        got_steps, got_summary = result_of(run)
        same = got_steps == want_steps and got_summary == want_summary
        exact += same
        differs = [k for k in COMPARED if got_summary.get(k) != want_summary.get(k)]
        if got_steps != want_steps:
            differs.insert(0, "losses")
        where = f"killed after step {killed_at}" if killed_at is not None else "ended before the kill"
        print(f"{i + 1}: {where} ({saved or 'no state yet'}): {'exact' if same else 'DIFFERS in ' + ', '.join(differs)}")
    print(f"{exact} of {a.kills} exact")
    if a.keep:
        print(f"runs kept in {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if exact == a.kills else 1


if __name__ == "__main__":
    sys.exit(main())
