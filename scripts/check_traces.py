#!/usr/bin/env python3
"""Check the shipped traces (data/traces/) against the sha256 recorded when they were gathered.

    python scripts/check_traces.py              # exit 0 if every file is intact, 1 if not
    python scripts/check_traces.py --dir PATH   # check another copy of the folder

The expected hashes and sizes below are the ones recorded with the reference copies
(``/work/shared/refdata/README.md``, gathered 2026-11-24 from the public repositories);
they are written here, not read from ``SHA256SUMS``, so editing a trace and its
``SHA256SUMS`` line together still fails. ``SHA256SUMS`` (usable with ``sha256sum -c``) must
agree with them, and the licence and attribution files must be beside the traces.
Standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

RECORDED: dict[str, tuple[str, int]] = {
    "azure_llm_2023/AzureLLMInferenceTrace_code.csv":
        ("54e9a6d2a4bd06ba1e060304b900abbc74cbea53de96506e60fe5bb4f2277fb6", 320_117),
    "azure_llm_2023/AzureLLMInferenceTrace_conv.csv":
        ("2f1e5b666d4e3055fdbba98598ce2ec307767b9064e03e2fa46676dbcc7d0bf8", 719_188),
    "mooncake_fast25/conversation_trace.jsonl":
        ("b8cbb061a85206d729d91cdc2981f43c9e0d99209dce588d3af5f7934408b9df", 3_029_533),
    "mooncake_fast25/synthetic_trace.jsonl":
        ("bd070915a98fc0ed264d7cfef2ce746002eb3076a695ec31ba2674c0111ec131", 1_136_313),
}
REQUIRED_NOTICES = ("ATTRIBUTION.md", "azure_llm_2023/LICENSE.md", "mooncake_fast25/LICENSE-APACHE")
DEFAULT_DIR = Path(__file__).resolve().parent.parent / "data" / "traces"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check(folder: Path) -> list[str]:
    """Every problem found in ``folder`` (empty when all is well)."""
    problems = []
    for rel, (digest, size) in RECORDED.items():
        path = folder / rel
        if not path.is_file():
            problems.append(f"{rel}: missing")
            continue
        if path.stat().st_size != size:
            problems.append(f"{rel}: {path.stat().st_size:,} bytes, recorded {size:,}")
        got = sha256(path)
        if got != digest:
            problems.append(f"{rel}: sha256 {got}, recorded {digest}")
    sums = folder / "SHA256SUMS"
    if not sums.is_file():
        problems.append("SHA256SUMS: missing")
    else:
        listed = {}
        for n, line in enumerate(sums.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            parts = line.split(maxsplit=1)
            if len(parts) != 2:
                problems.append(f"SHA256SUMS:{n}: expected '<sha256>  <path>'")
                continue
            listed[parts[1].lstrip("*").strip()] = parts[0].lower()
        for rel, (digest, _) in RECORDED.items():
            if listed.get(rel) != digest:
                problems.append(f"SHA256SUMS: {rel} is listed as {listed.get(rel)}, recorded {digest}")
        for rel in sorted(set(listed) - set(RECORDED)):
            problems.append(f"SHA256SUMS: lists {rel}, which has no recorded hash")
    for rel in REQUIRED_NOTICES:
        if not (folder / rel).is_file():
            problems.append(f"{rel}: missing (the licence and attribution must ship with the traces)")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="the traces folder (default: data/traces)")
    args = parser.parse_args(argv)
    problems = check(args.dir)
    if problems:
        for p in problems:
            print(f"FAIL {p}", file=sys.stderr)
        return 1
    for rel in RECORDED:
        print(f"ok   {rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
