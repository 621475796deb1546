"""The model catalog (configs/models.yaml): providers, models, aliases, policy defaults and tenant limits.

Loading validates everything at start and reports every problem at once,
each with its place in the file (``models[2].provider: unknown provider
"x"``), so a broken catalog fails the deployment with one readable error.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from llm.providers.base import PROVIDER_TYPES
from llm.types import Usage
from llm.vllm_engine import VLLMEngineConfig

ProviderType = Literal[PROVIDER_TYPES]  # type: ignore[valid-type]
TOKENS_PER_PRICE_UNIT = 1_000_000  # prices in models.yaml are USD per 1M tokens


class CatalogError(ValueError):
    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"invalid model catalog {source}:\n" + "\n".join(f"  - {problem}" for problem in problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Timeouts(_Strict):
    first_token_s: float = Field(default=15.0, gt=0, description="Until the first streamed chunk.")
    total_s: float = Field(default=120.0, gt=0, description="For the whole attempt.")


class TimeoutOverride(_Strict):
    first_token_s: float | None = Field(default=None, gt=0)
    total_s: float | None = Field(default=None, gt=0)


class RetryPolicy(_Strict):
    max_retries: int = Field(default=2, ge=0, description="Retries of one model on retryable errors, before falling back.")
    base_delay_s: float = Field(default=0.5, ge=0)
    max_delay_s: float = Field(default=8.0, ge=0)


class CooldownPolicy(_Strict):
    failures: int = Field(default=3, ge=1, description="Failures within window_s that put a model in cooldown.")
    window_s: float = Field(default=60.0, gt=0)
    cooldown_s: float = Field(default=30.0, gt=0)


class Defaults(_Strict):
    alias: str = "chat-default"
    timeouts: Timeouts = Timeouts()
    retry: RetryPolicy = RetryPolicy()
    cooldown: CooldownPolicy = CooldownPolicy()


class TenantLimits(_Strict):
    requests_per_minute: int | None = Field(default=None, ge=1, description="None = unlimited.")
    tokens_per_minute: int | None = Field(default=None, ge=1, description="None = unlimited.")


class LimitsConfig(_Strict):
    default: TenantLimits = TenantLimits()
    tenants: dict[str, TenantLimits] = {}

    def for_tenant(self, tenant_id: str) -> TenantLimits:
        return self.tenants.get(tenant_id, self.default)


class ProviderConfig(_Strict):
    name: str
    type: ProviderType
    api_key_env: str | None = Field(default=None, description="Env var holding the key; unset -> provider not configured.")
    base_url: str | None = None
    base_url_env: str | None = Field(default=None, description="Env var overriding base_url.")
    options: dict[str, Any] = {}


class ModelConfig(_Strict):
    name: str
    provider: str
    model: str | None = Field(default=None, description="The upstream model id; default: name.")
    context_window: int = Field(gt=0)
    input_usd_per_mtok: float = Field(default=0.0, ge=0)
    output_usd_per_mtok: float = Field(default=0.0, ge=0)
    timeouts: TimeoutOverride = TimeoutOverride()
    options: dict[str, Any] = {}
    engine_args: dict[str, Any] = Field(default={}, description="vllm models only: arguments for the vLLM engine.")

    @property
    def upstream(self) -> str:
        return self.model or self.name

    def cost_usd(self, usage: Usage) -> float:
        cost = usage.input_tokens * self.input_usd_per_mtok + usage.output_tokens * self.output_usd_per_mtok
        return cost / TOKENS_PER_PRICE_UNIT


class AliasConfig(_Strict):
    """An ordered fallback group (``fallback``) or a weighted one (``weighted``: picked by weight, the rest as fallback)."""

    name: str
    fallback: list[str] | None = None
    weighted: dict[str, float] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> AliasConfig:
        if (self.fallback is None) == (self.weighted is None):
            raise ValueError("give exactly one of `fallback` (ordered list) or `weighted` (model: weight)")
        return self

    @property
    def members(self) -> list[str]:
        return list(self.fallback if self.fallback is not None else self.weighted or {})


class Catalog(_Strict):
    defaults: Defaults = Defaults()
    limits: LimitsConfig = LimitsConfig()
    providers: list[ProviderConfig]
    models: list[ModelConfig]
    aliases: list[AliasConfig] = []

    def provider(self, name: str) -> ProviderConfig:
        return next(provider for provider in self.providers if provider.name == name)

    def model(self, name: str) -> ModelConfig | None:
        return next((model for model in self.models if model.name == name), None)

    def alias(self, name: str) -> AliasConfig | None:
        return next((alias for alias in self.aliases if alias.name == name), None)

    def vllm_engine_config(self, model_name: str) -> VLLMEngineConfig:
        """What the in-cluster vLLM server needs of ``model_name``, a model of a ``vllm`` provider."""
        model = self.model(model_name)
        if model is None:
            raise ValueError(f"models.yaml has no model {model_name!r}")
        if self.provider(model.provider).type != "vllm":
            raise ValueError(f"model {model_name!r} is not served by a vllm provider")
        default_max_tokens = model.options.get("default_max_tokens", VLLMEngineConfig.model_fields["default_max_tokens"].default)
        return VLLMEngineConfig(model=model.upstream, served_name=model.name, engine_args=model.engine_args,
                                default_max_tokens=default_max_tokens)

    def timeouts(self, model: ModelConfig) -> Timeouts:
        override = model.timeouts.model_dump(exclude_none=True)
        return self.defaults.timeouts.model_copy(update=override)


def load_catalog(path: Path) -> Catalog:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogError(str(path), [str(exc)]) from exc
    return parse_catalog(data, source=str(path))


def parse_catalog(data: Any, source: str = "<data>") -> Catalog:
    try:
        catalog = Catalog.model_validate(data)
    except ValidationError as exc:
        raise CatalogError(source, [f"{_yaml_path(error['loc'])}: {error['msg']}" for error in exc.errors()]) from None
    problems = list(_cross_check(catalog))
    if problems:
        raise CatalogError(source, problems)
    return catalog


def _yaml_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "<root>"


def _duplicates(section: str, names: list[str]) -> Iterator[str]:
    first: dict[str, int] = {}
    for index, name in enumerate(names):
        if name in first:
            yield f"{section}[{index}].name: duplicate name {name!r} (first at {section}[{first[name]}])"
        first.setdefault(name, index)


def _cross_check(catalog: Catalog) -> Iterator[str]:
    providers = {provider.name: provider for provider in catalog.providers}
    models = {model.name for model in catalog.models}
    yield from _duplicates("providers", [provider.name for provider in catalog.providers])
    yield from _duplicates("models", [model.name for model in catalog.models])
    yield from _duplicates("aliases", [alias.name for alias in catalog.aliases])

    for index, provider in enumerate(catalog.providers):
        where = f"providers[{index}]"
        if provider.type in ("openai", "anthropic") and not provider.api_key_env:
            yield f"{where}.api_key_env: a {provider.type} provider needs the name of its API key variable"
        if provider.type == "openai_compatible" and not (provider.base_url or provider.base_url_env):
            yield f"{where}.base_url: an openai_compatible provider needs base_url or base_url_env"

    for index, model in enumerate(catalog.models):
        where = f"models[{index}]"
        if model.provider not in providers:
            yield f"{where}.provider: unknown provider {model.provider!r}"
        elif model.engine_args and providers[model.provider].type != "vllm":
            yield f"{where}.engine_args: only models of a vllm provider take engine_args"

    for index, alias in enumerate(catalog.aliases):
        where = f"aliases[{index}]"
        if alias.name in models:
            yield f"{where}.name: {alias.name!r} is also a model name"
        kind = "fallback" if alias.fallback is not None else "weighted"
        if not alias.members:
            yield f"{where}.{kind}: empty group"
        for position, member in enumerate(alias.members):
            if member not in models:
                at = f"[{position}]" if kind == "fallback" else f".{member}"
                yield f"{where}.{kind}{at}: unknown model {member!r}"
        if alias.weighted is not None and alias.weighted:
            if any(weight < 0 for weight in alias.weighted.values()) or sum(alias.weighted.values()) <= 0:
                yield f"{where}.weighted: weights must be >= 0 and sum to more than 0"

    if catalog.defaults.alias not in models and catalog.alias(catalog.defaults.alias) is None:
        yield f"defaults.alias: unknown alias or model {catalog.defaults.alias!r}"
