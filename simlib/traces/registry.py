"""The shipped public traces (data/traces/, see ATTRIBUTION.md) and how a name or path resolves to a file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING


from simlib.errors import Problem, ScenarioError
from simlib.paths import data_dir

if TYPE_CHECKING:  # pragma: no cover

    pass


# --- shipped traces -------------------------------------------------------------------

@dataclass(frozen=True)
class ShippedTrace:
    """A public trace shipped in ``data/traces/`` (see data/traces/ATTRIBUTION.md)."""

    name: str
    file: str  # relative to data/traces/
    title: str
    licence: str
    citation: str
    arrivals: str  # how its timestamps came about


_AZURE_CITE = "Patel et al., Splitwise: Efficient generative LLM inference using phase splitting, ISCA 2024"
_MOONCAKE_CITE = "Qin et al., Mooncake: A KVCache-centric Architecture for Serving LLM Chatbot, USENIX FAST 2025"

SHIPPED: dict[str, ShippedTrace] = {
    t.name: t
    for t in (
        ShippedTrace("azure-code", "azure_llm_2023/AzureLLMInferenceTrace_code.csv",
                     "Azure LLM inference 2023, code completion (1 hour)", "CC BY 4.0", _AZURE_CITE,
                     "production invocation times"),
        ShippedTrace("azure-conv", "azure_llm_2023/AzureLLMInferenceTrace_conv.csv",
                     "Azure LLM inference 2023, conversation (1 hour)", "CC BY 4.0", _AZURE_CITE,
                     "production invocation times"),
        ShippedTrace("mooncake-conversation", "mooncake_fast25/conversation_trace.jsonl",
                     "Mooncake FAST'25, Kimi conversation (1 hour sample, prefix blocks)", "Apache-2.0",
                     _MOONCAKE_CITE, "sampled production arrival times"),
        ShippedTrace("mooncake-synthetic", "mooncake_fast25/synthetic_trace.jsonl",
                     "Mooncake FAST'25, synthetic from public datasets (prefix blocks)", "Apache-2.0",
                     _MOONCAKE_CITE, "Poisson arrivals, multi-turn order kept"),
    )
}


def traces_dir() -> Path:
    """The folder of the shipped traces (``data/traces`` in a checkout)."""
    return data_dir() / "traces"


def trace_names() -> list[str]:
    """Names of the shipped traces."""
    return list(SHIPPED)


def resolve_trace(trace: str | Path) -> Path:
    """The file behind a shipped trace name or a path; ScenarioError if there is none."""
    text = str(trace)
    if text in SHIPPED:
        return traces_dir() / SHIPPED[text].file
    path = Path(text).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        raise ScenarioError([Problem("workload.trace", f"{text!r} is a directory, not a trace file")])
    if path.exists():  # a FIFO, a device or an unreadable path: refused with its reason
        from simlib.loading import MAX_TRACE_BYTES, check_readable

        check_readable(path, max_bytes=MAX_TRACE_BYTES, what="trace file")
    from simlib.loading import did_you_mean

    hint = did_you_mean(text, SHIPPED, n=2)
    raise ScenarioError([Problem(
        "workload.trace",
        f"no shipped trace or file named {text!r}{hint} (shipped: {', '.join(SHIPPED)}; "
        "or give the path of a CSV or JSONL file, see docs/traces.md)",
    )])
