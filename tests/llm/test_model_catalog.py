"""The catalog: the shipped configs/models.yaml loads, and a broken one fails with every problem and its path."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm.catalog import CatalogError, load_catalog, parse_catalog
from tests.config_paths import CONFIG_DIR

PROVIDERS = [{"name": "openai", "type": "openai", "api_key_env": "OPENAI_API_KEY"}, {"name": "offline", "type": "offline"}]
MODELS = [
    {"name": "gpt", "provider": "openai", "context_window": 128000, "timeouts": {"total_s": 30}},
    {"name": "offline", "provider": "offline", "context_window": 32768},
]


def problems_of(data: dict) -> list[str]:
    with pytest.raises(CatalogError) as raised:
        parse_catalog(data, source="models.yaml")
    assert "invalid model catalog models.yaml" in str(raised.value)
    return raised.value.problems


def test_the_shipped_catalog_is_valid_and_routes_chat_default_to_offline_last() -> None:
    catalog = load_catalog(CONFIG_DIR / "models.yaml")
    chat_default = catalog.alias("chat-default")
    assert catalog.defaults.alias == "chat-default" and chat_default.fallback[-1] == "offline"
    assert {"fast", "structured", "simulated"} <= {alias.name for alias in catalog.aliases}
    assert any(alias.weighted for alias in catalog.aliases)
    assert {provider.type for provider in catalog.providers} == {"openai", "anthropic", "openai_compatible", "vllm", "offline", "simulated"}


def test_timeouts_are_the_defaults_with_the_model_override() -> None:
    catalog = parse_catalog({"defaults": {"alias": "gpt", "timeouts": {"first_token_s": 5, "total_s": 60}}, "providers": PROVIDERS, "models": MODELS})
    timeouts = catalog.timeouts(catalog.model("gpt"))
    assert (timeouts.first_token_s, timeouts.total_s) == (5, 30)


def test_every_cross_reference_problem_is_reported_with_its_path() -> None:
    problems = problems_of(
        {
            "defaults": {"alias": "missing-alias"},
            "providers": [*PROVIDERS, {"name": "openai", "type": "offline"}, {"name": "local", "type": "openai_compatible"}],
            "models": [
                *MODELS,
                {"name": "gpt", "provider": "offline", "context_window": 10},
                {"name": "ghost", "provider": "nowhere", "context_window": 10},
                {"name": "tuned", "provider": "openai", "context_window": 10, "engine_args": {"model": "x"}},
            ],
            "aliases": [
                {"name": "chat-default", "fallback": ["gpt", "gtp-typo"]},
                {"name": "empty", "fallback": []},
                {"name": "split", "weighted": {"gpt": 0, "offline": 0}},
                {"name": "offline", "fallback": ["offline"]},
            ],
        }
    )
    assert problems == [
        "providers[2].name: duplicate name 'openai' (first at providers[0])",
        "models[2].name: duplicate name 'gpt' (first at models[0])",
        "providers[3].base_url: an openai_compatible provider needs base_url or base_url_env",
        "models[3].provider: unknown provider 'nowhere'",
        "models[4].engine_args: only models of a vllm provider take engine_args",
        "aliases[0].fallback[1]: unknown model 'gtp-typo'",
        "aliases[1].fallback: empty group",
        "aliases[2].weighted: weights must be >= 0 and sum to more than 0",
        "aliases[3].name: 'offline' is also a model name",
        "defaults.alias: unknown alias or model 'missing-alias'",
    ]


def test_structural_errors_name_the_field() -> None:
    problems = problems_of(
        {
            "providers": [{"name": "x", "type": "gemini"}],
            "models": [{"name": "m", "provider": "x", "context_window": 0, "price": 1}],
            "aliases": [{"name": "a", "fallback": ["m"], "weighted": {"m": 1}}],
        }
    )
    assert any(problem.startswith("providers[0].type: Input should be 'openai'") for problem in problems)
    assert any(problem.startswith("models[0].context_window: Input should be greater than 0") for problem in problems)
    assert "models[0].price: Extra inputs are not permitted" in problems
    assert any(problem.startswith("aliases[0]: Value error, give exactly one of") for problem in problems)


def test_an_unreadable_file_is_a_catalog_error(tmp_path: Path) -> None:
    broken = tmp_path / "models.yaml"
    broken.write_text("providers: [unclosed")
    with pytest.raises(CatalogError):
        load_catalog(broken)
    with pytest.raises(CatalogError):
        load_catalog(tmp_path / "absent.yaml")
