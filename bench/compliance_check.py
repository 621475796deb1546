"""CPU per compliance check, this checkout against another (a baseline commit checked out elsewhere), and what the
labelled sets say about both: recall and precision of the verdict on each set.

Each round runs every text of the sets once through ``ComplianceAgent.check_text`` (output direction, the row's
channel) in a fresh process per checkout, alternating the two checkouts so a busy machine slows both alike; the CPU
(user + system of the whole process, ``os.times``) is divided by the checks. Rules compile before the clock starts.

    git worktree add /tmp/base <commit>
    .venv/bin/python bench/compliance_check.py --baseline /tmp/base [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
DATA = HERE / "tests" / "agents" / "data"
SETS = ["compliance_dev", "compliance_extra", "compliance_holdout", "compliance_evasive_tune", "compliance_evasive_tune2",
        "compliance_evasive_tune3", "compliance_evasive_holdout"]

_WORKER = """
import json, os, sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from agents.compliance import ComplianceAgent
agent = ComplianceAgent.load(Path(sys.argv[1]) / "configs" / "compliance")
rows = json.loads(sys.stdin.read())
scores = {}
for name, cases in rows.items():
    flagged = [agent.check_text(c["text"], c["channel"]).verdict != "approved" for c in cases]
    violations = [c["verdict"] == "violation" for c in cases]
    caught = sum(f and v for f, v in zip(flagged, violations))
    scores[name] = (caught / max(1, sum(violations)), caught / max(1, sum(flagged)))
texts = [(c["text"], c["channel"]) for cases in rows.values() for c in cases]
before = os.times()
for text, channel in texts:
    agent.check_text(text, channel)
after = os.times()
cpu = (after.user - before.user) + (after.system - before.system)
print(json.dumps({"ms_per_check": cpu * 1000 / len(texts), "checks": len(texts), "scores": scores}))
"""


def _rows() -> dict[str, list[dict]]:
    rows = {}
    for name in SETS:
        path = DATA / f"{name}.jsonl"
        cases = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        rows[name] = [c for c in cases if c.get("direction", "output") == "output"]
    return rows


def _run(checkout: Path, rows: dict[str, list[dict]]) -> dict:
    done = subprocess.run([sys.executable, "-c", _WORKER, str(checkout)], input=json.dumps(rows), capture_output=True,
                          text=True, check=True, env={**os.environ, "PYTHONPATH": str(checkout)})
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=Path, required=True, help="another checkout of this repository")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rows = _rows()
    runs: dict[str, list[dict]] = {"baseline": [], "this checkout": []}
    for _ in range(args.rounds):
        runs["baseline"].append(_run(args.baseline.resolve(), rows))
        runs["this checkout"].append(_run(HERE, rows))
    medians = {name: statistics.median(r["ms_per_check"] for r in results) for name, results in runs.items()}
    print(f"{runs['baseline'][0]['checks']} checks a round, {args.rounds} rounds, CPU ms per check (median):")
    for name, ms in medians.items():
        rounds = ", ".join(f"{result['ms_per_check']:.3f}" for result in runs[name])
        print(f"  {name:14} {ms:.3f} ms  (rounds: {rounds})")
    print(f"  ratio          {medians['this checkout'] / medians['baseline']:.2f}x")
    print("verdict recall / precision per set:")
    for name in SETS:
        base, now = runs["baseline"][0]["scores"][name], runs["this checkout"][0]["scores"][name]
        print(f"  {name:28} baseline {base[0]:.3f} / {base[1]:.3f}   this checkout {now[0]:.3f} / {now[1]:.3f}")


if __name__ == "__main__":
    main()
