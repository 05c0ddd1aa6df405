"""The price catalog layer (simlib.prices): catalog lookups against published prices, the
data files' provenance, the one loader's error messages, and cross-checks between sources.

Published figures are written here from the providers' pages (source and date beside each),
not copied from the code or the data files, so an edit that changes a price makes a test fail.
"""

from __future__ import annotations

import csv
import math
import pickle
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from simlib import prices
from simlib.paths import data_dir
from simlib.prices import PriceDataError, UnknownModelError

ON = date(2026, 11, 26)  # fixed day for catalog lookups (the catalog holds dated price changes)
PRICES_DIR = data_dir() / "prices"
CATALOG_KEYS = {
    "input_usd_per_mtok", "output_usd_per_mtok", "cache_read_usd_per_mtok", "cache_write_usd_per_mtok",
    "cache_write_1h_usd_per_mtok", "long_context_threshold_tokens", "long_context_input_usd_per_mtok",
    "long_context_output_usd_per_mtok", "source", "as_of",
}


# --- catalog lookups against published prices ---------------------------------------------

# (model, input, output, cache read, cache write 5m, cache write 1h) in USD per million tokens.
PUBLISHED = [
    # Anthropic pricing page (https://www.anthropic.com/pricing#api), Claude Sonnet 4.5 launch 2025-09-29;
    # prompt caching docs: 5-minute write 1.25x, 1-hour write 2x, read 0.1x.
    ("anthropic/claude-sonnet-4-5", 3.00, 15.00, 0.30, 3.75, 6.00),
    # Anthropic pricing page, Claude Haiku 4.5 launch 2025-10-15.
    ("anthropic/claude-haiku-4-5", 1.00, 5.00, 0.10, 1.25, 2.00),
    # Anthropic pricing page, Claude Opus 4.1 launch 2025-08-05.
    ("anthropic/claude-opus-4-1", 15.00, 75.00, 1.50, 18.75, 30.00),
    # OpenAI pricing page (https://openai.com/api/pricing/), GPT-4.1 family launch 2025-04-14:
    # cached input 75% off, no cache-write price (automatic caching).
    ("openai/gpt-4.1", 2.00, 8.00, 0.50, None, None),
    ("openai/gpt-4.1-mini", 0.40, 1.60, 0.10, None, None),
    # OpenAI pricing page, gpt-4o (2024-08-06 snapshot prices, unchanged through 2025): cached input 50% off.
    ("openai/gpt-4o", 2.50, 10.00, 1.25, None, None),
    # Gemini API pricing (https://ai.google.dev/gemini-api/docs/pricing), Gemini 2.5 Flash GA 2025-06-17.
    ("google/gemini-2.5-flash", 0.30, 2.50, None, None, None),
]


@pytest.mark.parametrize("model, inp, out, read, write_5m, write_1h", PUBLISHED)
def test_catalog_matches_published_prices(model, inp, out, read, write_5m, write_1h):
    p = prices.catalog_prices(model, on=ON)
    assert set(p) == CATALOG_KEYS
    assert p["input_usd_per_mtok"] == pytest.approx(inp)
    assert p["output_usd_per_mtok"] == pytest.approx(out)
    if read is not None:
        assert p["cache_read_usd_per_mtok"] == pytest.approx(read)
    if write_5m is None:
        assert p["cache_write_usd_per_mtok"] is None
    else:
        assert p["cache_write_usd_per_mtok"] == pytest.approx(write_5m)
    if write_1h is None:
        assert p["cache_write_1h_usd_per_mtok"] is None
    else:
        assert p["cache_write_1h_usd_per_mtok"] == pytest.approx(write_1h)
    assert p["source"].startswith("genai-prices ")
    assert date.fromisoformat(p["as_of"]) <= date.today()


def test_long_context_tiers_match_published_prices():
    """A prompt over 200k tokens pays the long-context rate on all its tokens."""
    # Anthropic pricing page, long context (1M-token beta) for Sonnet 4.5: over 200k input tokens,
    # $6 input and $22.50 output per million (2025-09-29).
    sonnet = prices.catalog_prices("anthropic/claude-sonnet-4-5", on=ON)
    assert sonnet["long_context_threshold_tokens"] == 200_000
    assert sonnet["long_context_input_usd_per_mtok"] == pytest.approx(6.00)
    assert sonnet["long_context_output_usd_per_mtok"] == pytest.approx(22.50)
    # Gemini API pricing, Gemini 2.5 Pro (GA 2025-06-17): $1.25 / $10 up to 200k prompt tokens,
    # $2.50 / $15 above.
    pro = prices.catalog_prices("google/gemini-2.5-pro", on=ON)
    assert (pro["input_usd_per_mtok"], pro["output_usd_per_mtok"]) == pytest.approx((1.25, 10.00))
    assert pro["long_context_threshold_tokens"] == 200_000
    assert pro["long_context_input_usd_per_mtok"] == pytest.approx(2.50)
    assert pro["long_context_output_usd_per_mtok"] == pytest.approx(15.00)
    # Haiku 4.5 has no long-context tier.
    haiku = prices.catalog_prices("anthropic/claude-haiku-4-5", on=ON)
    assert haiku["long_context_threshold_tokens"] is None
    assert haiku["long_context_input_usd_per_mtok"] is None


def test_time_of_day_prices_use_the_rate_in_force_most_of_the_day():
    """DeepSeek's off-peak discount (16:30-00:30 UTC, 8 h) loses to the standard rate (16 h)."""
    # DeepSeek pricing (https://api-docs.deepseek.com/quick_start/pricing), deepseek-chat, 2025-02:
    # input $0.27 (cache miss), $0.07 (cache hit), output $1.10; 50% off 16:30-00:30 UTC.
    p = prices.catalog_prices("deepseek/deepseek-chat", on=ON)
    assert p["input_usd_per_mtok"] == pytest.approx(0.27)
    assert p["cache_read_usd_per_mtok"] == pytest.approx(0.07)
    assert p["output_usd_per_mtok"] == pytest.approx(1.10)
    assert "time of day" in p["source"]


def test_dated_and_differently_cased_names_resolve_to_the_same_entry():
    base = prices.catalog_prices("anthropic/claude-sonnet-4-5", on=ON)
    assert prices.catalog_prices("anthropic/claude-sonnet-4-5-20250929", on=ON) == base
    assert prices.catalog_prices("Anthropic/Claude-Sonnet-4-5", on=ON) == base


def test_embedding_model_in_catalog_has_input_price_only():
    # OpenAI pricing page, text-embedding-3-small: $0.02 per million tokens (2024-01-25 onwards).
    p = prices.catalog_prices("openai/text-embedding-3-small", on=ON)
    assert p["input_usd_per_mtok"] == pytest.approx(0.02)
    assert p["output_usd_per_mtok"] is None


def test_every_catalog_model_gives_well_formed_prices():
    names = prices.search_models("", limit=10**6)
    assert len(names) > 1000
    for name in names:
        p = prices.catalog_prices(name, on=ON)
        assert set(p) == CATALOG_KEYS, name
        for key in CATALOG_KEYS - {"source", "as_of", "long_context_threshold_tokens"}:
            assert p[key] is None or (p[key] >= 0 and math.isfinite(p[key])), (name, key)
        if p["long_context_threshold_tokens"] is not None:
            assert p["long_context_threshold_tokens"] > 0, name
            assert p["long_context_input_usd_per_mtok"] is not None or p["long_context_output_usd_per_mtok"] is not None
        date.fromisoformat(p["as_of"])


def test_unknown_model_lists_near_matches():
    with pytest.raises(UnknownModelError) as info:
        prices.catalog_prices("anthropic/claude-sonet-4-5")
    err = info.value
    assert isinstance(err, ValueError)
    assert err.name == "anthropic/claude-sonet-4-5"
    assert "anthropic/claude-sonnet-4-5" in err.near_matches
    assert str(err).startswith('unknown model "anthropic/claude-sonet-4-5"; did you mean: ')
    assert str(err).endswith("?")
    # Without the provider prefix, the near matches supply it.
    with pytest.raises(UnknownModelError) as info:
        prices.catalog_prices("claude-sonnet-4-5")
    assert "anthropic/claude-sonnet-4-5" in info.value.near_matches
    # Nothing similar: an empty list and a message saying so.
    with pytest.raises(UnknownModelError) as info:
        prices.catalog_prices("zzzzqqq/xxxxyyyy")
    assert info.value.near_matches == []
    assert 'unknown model "zzzzqqq/xxxxyyyy"' in str(info.value)
    # Survives pickling (process pools).
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.name, copy.near_matches, str(copy)) == (err.name, err.near_matches, str(err))


def test_search_models_is_a_case_insensitive_substring_match():
    hits = prices.search_models("SONNET-4-5", limit=50)
    assert "anthropic/claude-sonnet-4-5" in hits
    assert all("sonnet-4-5" in h.lower() for h in hits)
    assert len(prices.search_models("gpt", limit=3)) == 3
    assert prices.search_models("no-such-model-anywhere") == []


def test_catalog_lookups_never_touch_the_network():
    """With sockets disabled, lookups work and no genai-prices updater thread starts."""
    code = textwrap.dedent(
        """
        import socket, threading
        def refuse(*args, **kwargs):
            raise RuntimeError("network access attempted")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        from simlib import prices
        p = prices.catalog_prices("anthropic/claude-sonnet-4-5")
        assert p["input_usd_per_mtok"] == 3.0, p
        prices.describe_model_prices("openai/gpt-4.1-mini")
        prices.validate_all()
        assert not any(t.name.startswith("genai_prices") for t in threading.enumerate())
        print("ok")
        """
    )
    root = Path(__file__).resolve().parent.parent  # the checkout (simlib.prices is a package)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("ok")


# --- data files: provenance and the one loader ----------------------------------------------

def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_every_data_file_loads():
    counts = prices.validate_all()
    assert set(counts) == {"fine_tuning", "embeddings", "vector_stores", "rerankers", "cache_rules", "latency",
                           "output_limits", "retrieval_latency", "rate_limits", "gpus", "batch_discounts"}
    assert all(n > 0 for n in counts.values()), counts
    # Every CSV in the folder is a known table (no file the loader would silently skip).
    assert {p.stem for p in PRICES_DIR.glob("*.csv")} == set(counts)


@pytest.mark.parametrize("path", sorted(PRICES_DIR.glob("*.csv")), ids=lambda p: p.name)
def test_every_row_has_a_source_and_an_iso_as_of_date(path):
    # Read with the csv module, not the loader under test.
    rows = _csv_rows(path)
    assert rows, path
    for number, row in enumerate(rows, start=1):
        assert row["source"].strip(), f"{path.name} row {number}: empty source"
        as_of = row["as_of"].strip()
        assert len(as_of) == 10, f"{path.name} row {number}: as_of {as_of!r} is not YYYY-MM-DD"
        day = date.fromisoformat(as_of)
        assert date(2023, 1, 1) <= day <= date.today(), f"{path.name} row {number}: as_of {as_of} out of range"


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _good_fine_tuning_rows() -> tuple[list[str], list[list[str]]]:
    with (PRICES_DIR / "fine_tuning.csv").open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        return header, [row for row, _ in zip(reader, range(3))]


def test_malformed_number_names_file_row_and_column(tmp_path):
    header, rows = _good_fine_tuning_rows()
    rows[1][header.index("training_usd_per_mtok")] = "twenty-five"
    path = _write_csv(tmp_path / "broken_fine_tuning.csv", header, rows)
    with pytest.raises(PriceDataError) as info:
        prices.load_table("fine_tuning", path)
    message = str(info.value)
    assert "broken_fine_tuning.csv" in message
    assert "row 2 (line 3)" in message
    assert "column 'training_usd_per_mtok'" in message
    assert "twenty-five" in message
    assert (info.value.row, info.value.line, info.value.column) == (2, 3, "training_usd_per_mtok")


@pytest.mark.parametrize(
    "column, value, expected",
    [
        ("source", "", "empty cell"),
        ("as_of", "01/06/2025", "ISO date"),
        ("as_of", "2025-13-01", "month"),
        ("hosting_usd_per_hour", "-1", "greater than or equal to 0"),
        ("input_usd_per_mtok", "nan", "finite"),
    ],
)
def test_bad_cells_are_rejected_with_their_column(tmp_path, column, value, expected):
    header, rows = _good_fine_tuning_rows()
    rows[2][header.index(column)] = value
    path = _write_csv(tmp_path / "fine_tuning.csv", header, rows)
    with pytest.raises(PriceDataError) as info:
        prices.load_table("fine_tuning", path)
    assert info.value.row == 3 and info.value.column == column
    assert expected.lower() in str(info.value).lower()
    assert str(path) in str(info.value)


def test_header_and_row_shape_problems_are_named(tmp_path):
    header, rows = _good_fine_tuning_rows()
    # A missing column.
    drop = header.index("as_of")
    path = _write_csv(tmp_path / "a.csv", [h for i, h in enumerate(header) if i != drop],
                      [[c for i, c in enumerate(r) if i != drop] for r in rows])
    with pytest.raises(PriceDataError, match=r"column 'as_of'.*missing column"):
        prices.load_table("fine_tuning", path)
    # An unknown column.
    path = _write_csv(tmp_path / "b.csv", header + ["price_usd"], [r + ["1"] for r in rows])
    with pytest.raises(PriceDataError, match=r"column 'price_usd'.*unknown column"):
        prices.load_table("fine_tuning", path)
    # A row with an extra cell.
    path = _write_csv(tmp_path / "c.csv", header, [rows[0], rows[1] + ["surplus"]])
    with pytest.raises(PriceDataError, match=r"row 2 \(line 3\).*more cell"):
        prices.load_table("fine_tuning", path)
    # A duplicate key.
    path = _write_csv(tmp_path / "d.csv", header, [rows[0], rows[1], rows[0]])
    with pytest.raises(PriceDataError, match=r"row 3 \(line 4\), column 'model'.*duplicate"):
        prices.load_table("fine_tuning", path)
    # A cache rule whose TTLs and write multipliers do not pair up.
    with (PRICES_DIR / "cache_rules.csv").open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        rules_header, first = next(reader), next(reader)
    first[rules_header.index("write_multipliers")] = "1.25"
    path = _write_csv(tmp_path / "e.csv", rules_header, [first])
    with pytest.raises(PriceDataError, match=r"row 1 \(line 2\).*one write multiplier per TTL"):
        prices.load_table("cache_rules", path)


# --- fine-tuning, embeddings, vector stores, rerankers ---------------------------------------

# (model, training, input, output) in USD per million tokens. OpenAI pricing page, fine-tuning
# table (https://openai.com/api/pricing/), as listed from the GPT-4.1 launch (2025-04-14) onwards.
OPENAI_FINE_TUNING = [
    ("openai/gpt-4.1", 25.00, 3.00, 12.00),
    ("openai/gpt-4.1-mini", 5.00, 0.80, 3.20),
    ("openai/gpt-4.1-nano", 1.50, 0.20, 0.80),
    ("openai/gpt-4o", 25.00, 3.75, 15.00),
    ("openai/gpt-4o-mini", 3.00, 0.30, 1.20),
]


@pytest.mark.parametrize("model, training, inp, out", OPENAI_FINE_TUNING)
def test_openai_fine_tuning_matches_published_prices(model, training, inp, out):
    p = prices.fine_tune_prices(model)
    assert (p["training_usd_per_mtok"], p["input_usd_per_mtok"], p["output_usd_per_mtok"]) == pytest.approx(
        (training, inp, out))
    assert p["hosting_usd_per_hour"] == 0
    assert p["source"] and date.fromisoformat(p["as_of"])


def test_fine_tuning_agrees_with_the_catalog():
    """Two sources: our fine_tuning.csv and genai-prices' own fine-tuned and base model prices."""
    # genai-prices lists fine-tuned gpt-4o / gpt-4o-mini inference as openai/ft:gpt-4o(-mini).
    for ours, theirs in (("openai/gpt-4o", "openai/ft:gpt-4o"), ("openai/gpt-4o-mini", "openai/ft:gpt-4o-mini")):
        mine, catalog = prices.fine_tune_prices(ours), prices.catalog_prices(theirs, on=ON)
        assert mine["input_usd_per_mtok"] == pytest.approx(catalog["input_usd_per_mtok"])
        assert mine["output_usd_per_mtok"] == pytest.approx(catalog["output_usd_per_mtok"])
    rows = prices.load_table("fine_tuning")
    assert len({r.model.split("/")[0] for r in rows}) >= 2  # at least one provider besides OpenAI
    for row in rows:
        if row.base_model:
            base = prices.catalog_prices(row.base_model, on=ON)  # raises if the base is not in the catalog
            if row.inference_at_base_price:
                assert row.input_usd_per_mtok == pytest.approx(base["input_usd_per_mtok"]), row.model
                assert row.output_usd_per_mtok == pytest.approx(base["output_usd_per_mtok"]), row.model
        if row.hosting_usd_per_hour == 0:
            assert row.input_usd_per_mtok > 0, f"{row.model}: serverless but free per token"


def test_unknown_fine_tuning_model_lists_near_matches():
    with pytest.raises(UnknownModelError) as info:
        prices.fine_tune_prices("openai/gpt-4.1-mni")
    assert "openai/gpt-4.1-mini" in info.value.near_matches


def test_embedding_prices_agree_with_the_catalog():
    rows = prices.load_table("embeddings")
    checked = 0
    for row in rows:
        try:
            catalog = prices.catalog_prices(row.model, on=ON)
        except UnknownModelError:
            continue
        assert row.usd_per_mtok == pytest.approx(catalog["input_usd_per_mtok"]), row.model
        checked += 1
    assert checked >= 5
    # OpenAI pricing page / embeddings guide: text-embedding-3-large $0.13 per million, 3072 dimensions.
    large = prices.embedding_prices("openai/text-embedding-3-large")
    assert (large["usd_per_mtok"], large["dimensions"]) == (pytest.approx(0.13), 3072)


def test_pinecone_query_price_follows_namespace_size():
    # Pinecone docs, "Understanding cost" (2025): a query uses 1 RU per GB of namespace, at least
    # 0.25 RU; 1M records x 1536 dims with 1,000 bytes of metadata = 7.14 GB -> 7.14 RU.
    # Pinecone pricing page (Standard, 2025): $16 per million read units.
    usd_per_ru = 16 / 1e6
    assert prices.vector_read_usd_per_query("pinecone-serverless-standard", 7.14) == pytest.approx(7.14 * usd_per_ru)
    assert prices.vector_read_usd_per_query("pinecone-serverless-standard", 0.01) == pytest.approx(0.25 * usd_per_ru)
    p = prices.vector_store_prices("pinecone-serverless-standard")
    assert p["storage_usd_per_gb_month"] == pytest.approx(0.33)
    assert p["minimum_usd_per_month"] == pytest.approx(50)  # Standard plan minimum usage (Pinecone docs)
    assert prices.vector_store_prices("pgvector-rds")["read_usd_per_query"] == 0
    with pytest.raises(UnknownModelError, match="vector store"):
        prices.vector_store_prices("pinecone")


def test_reranker_price_per_search():
    # Cohere pricing page: Rerank 3.5, $2.00 per 1,000 searches (2025).
    p = prices.reranker_prices("cohere/rerank-v3.5")
    assert p["usd_per_search"] == pytest.approx(0.002)
    assert prices.reranker_prices("voyageai/rerank-2.5")["usd_per_search"] is None


# --- provider cache rules ----------------------------------------------------------------------

def test_anthropic_cache_rules_match_the_docs():
    # Anthropic prompt caching docs (2025): explicit breakpoints; 5-minute entry written at 1.25x,
    # 1-hour entry at 2x, reads 0.1x; minimum 1,024 tokens (Sonnet/Opus 4.x), 2,048 (Haiku 3.5),
    # 4,096 (Haiku 4.5).
    rules = prices.cache_rules("anthropic")
    assert rules["mode"] == "explicit"
    assert rules["ttl_options_s"] == [300, 3600]
    assert rules["write_multiplier_by_ttl"] == {300: pytest.approx(1.25), 3600: pytest.approx(2.0)}
    assert rules["read_multiplier"] == pytest.approx(0.1)
    assert rules["min_cacheable_tokens"] == 1024
    assert prices.cache_rules("anthropic/claude-sonnet-4-5")["min_cacheable_tokens"] == 1024
    assert prices.cache_rules("anthropic/claude-3-5-haiku-latest")["min_cacheable_tokens"] == 2048
    assert prices.cache_rules("anthropic/claude-haiku-4-5")["min_cacheable_tokens"] == 4096


# Claude 3.x and 4.x models, whose cache prices Anthropic publishes as the multipliers above.
# Claude 3 Haiku is the published exception: input $0.25, cache write $0.30 (1.2x, rounded), read
# $0.03 (Anthropic pricing page, 2024-08 onwards). Later models in the catalog (Claude 5.x) have
# their own read discounts, so the engine must prefer the catalog's per-model cache prices.
RULE_FOLLOWING_CLAUDES = [
    "anthropic/claude-3-5-haiku-latest", "anthropic/claude-3-5-sonnet", "anthropic/claude-3-7-sonnet-latest",
    "anthropic/claude-3-opus-latest", "anthropic/claude-sonnet-4-0", "anthropic/claude-sonnet-4-5",
    "anthropic/claude-opus-4-0", "anthropic/claude-opus-4-1", "anthropic/claude-opus-4-5",
    "anthropic/claude-haiku-4-5",
]


@pytest.mark.parametrize("name", RULE_FOLLOWING_CLAUDES)
def test_anthropic_catalog_cache_prices_follow_the_rule_multipliers(name):
    """Two sources: the catalog's per-model cache prices and cache_rules.csv's multipliers."""
    p = prices.catalog_prices(name, on=ON)
    rule = prices.cache_rules(name)
    inp = p["input_usd_per_mtok"]
    assert p["cache_write_usd_per_mtok"] == pytest.approx(inp * rule["write_multiplier_by_ttl"][300])
    assert p["cache_write_1h_usd_per_mtok"] == pytest.approx(inp * rule["write_multiplier_by_ttl"][3600])
    assert p["cache_read_usd_per_mtok"] == pytest.approx(inp * rule["read_multiplier"])


def test_claude_3_haiku_keeps_its_published_cache_write_price():
    # Anthropic pricing page (2024-08): Claude 3 Haiku input $0.25, cache write $0.30, read $0.03.
    p = prices.effective_token_prices("anthropic/claude-3-haiku", on=ON)
    assert (p["input_usd_per_mtok"], p["cache_write_usd_per_mtok"], p["cache_read_usd_per_mtok"]) == pytest.approx(
        (0.25, 0.30, 0.03))
    assert p["derived_keys"] == []


def test_openai_and_google_cache_rules():
    # OpenAI prompt caching guide (2025): automatic for prompts of 1,024+ tokens, cached in 128-token
    # steps, no extra charge to write.
    openai = prices.cache_rules("openai")
    assert openai["mode"] == "automatic"
    assert (openai["min_cacheable_tokens"], openai["increment_tokens"]) == (1024, 128)
    assert set(openai["write_multiplier_by_ttl"].values()) == {1.0}
    # Gemini API: implicit caching is the default; explicit caching charges storage per token-hour.
    assert prices.cache_rules("google")["mode"] == "automatic"
    explicit = prices.cache_rules("google/gemini-2.5-flash", mode="explicit")
    assert explicit["mode"] == "explicit" and explicit["storage_usd_per_mtok_hour"] > 0
    with pytest.raises(UnknownModelError):
        prices.cache_rules("antropic")


def test_effective_prices_fill_cache_gaps_from_the_rules():
    gpt = prices.effective_token_prices("openai/gpt-4.1", on=ON)
    assert gpt["cache_write_usd_per_mtok"] == pytest.approx(gpt["input_usd_per_mtok"])  # no write premium
    assert "cache_write_usd_per_mtok" in gpt["derived_keys"]
    # OpenAI's retention options include an hour (in-memory off-peak, cache_rules.csv since issue 15), also
    # without a write premium
    assert gpt["cache_write_1h_usd_per_mtok"] == pytest.approx(gpt["input_usd_per_mtok"])
    sonnet = prices.effective_token_prices("anthropic/claude-sonnet-4-5", on=ON)
    assert not {"cache_read_usd_per_mtok", "cache_write_usd_per_mtok"} & set(sonnet["derived_keys"])
    # Anthropic long context: cache prices double with input above 200k (catalog tier).
    assert sonnet["long_context_cache_read_usd_per_mtok"] == pytest.approx(0.60)
    assert sonnet["long_context_cache_write_usd_per_mtok"] == pytest.approx(7.50)


# --- latency -----------------------------------------------------------------------------------

def test_latency_classes_match_models_by_longest_prefix():
    assert prices.latency_figures("openai/gpt-4.1")["latency_class"] == "frontier-api-openai"  # its own cache fit (cookbook shape)
    assert prices.latency_figures("anthropic/claude-sonnet-4-5")["latency_class"] == "frontier-api"
    assert prices.latency_figures("openai/gpt-4.1-mini")["latency_class"] == "small-api"
    # Cursor, "Editing Files at 1000 Tokens per Second" (2024-05): speculative edits reach ~1000 tok/s.
    assert prices.latency_figures("fast-apply-speculative")["decode_tokens_per_s"] == pytest.approx(1000, rel=0.2)
    for row in prices.load_table("latency"):
        assert row.cached_prefill_tokens_per_s >= row.prefill_tokens_per_s, row.name
    # Every fine-tuning offer has speeds on file.
    for row in prices.load_table("fine_tuning"):
        prices.latency_figures(row.model)
    with pytest.raises(UnknownModelError):
        prices.latency_figures("no-such-class")


def test_retrieval_latency_lognormal_reproduces_the_quantiles():
    """The lognormal through (p50, p95) has median p50, 95th percentile p95, and the stated mean and cv."""
    rng = np.random.default_rng(20261126)
    for name in prices.names("retrieval_latency"):
        r = prices.retrieval_latency(name)
        sigma = math.sqrt(math.log1p(r["cv"] ** 2))
        mu = math.log(r["mean_s"]) - sigma**2 / 2
        draws = rng.lognormal(mu, sigma, 200_000)
        assert np.median(draws) == pytest.approx(r["p50_s"], rel=0.02), name
        assert np.quantile(draws, 0.95) == pytest.approx(r["p95_s"], rel=0.03), name
        assert draws.mean() == pytest.approx(r["mean_s"], rel=0.03), name


# --- the human summary -------------------------------------------------------------------------

def test_describe_lists_every_price_with_source_and_date():
    text = prices.describe_model_prices("openai/gpt-4.1", on=ON)
    for fragment in ("openai/gpt-4.1", "2.0", "8.0", "0.5", "genai-prices", "automatic", "1,024",
                     "Fine-tuning", "25.0", "12.0", "Latency class frontier-api"):
        assert fragment in text, fragment
    sonnet = prices.describe_model_prices("anthropic/claude-sonnet-4-5", on=ON)
    for fragment in ("3.75", "6.0", "200,000", "22.5", "explicit", "as of"):
        assert fragment in sonnet, fragment
    with pytest.raises(UnknownModelError):
        prices.describe_model_prices("openai/gpt-4.1-typo")


def test_data_dir_holds_the_price_files():
    assert (data_dir() / "prices" / "fine_tuning.csv").is_file()
