"""Model providers, and which one serves a model name.

Without an upstream (`RETRIEVD_UPSTREAM_BASE_URL` unset) every model name a client sends ("gpt-4o",
anything) is served by the built-in `extractive` provider. With an upstream, `RETRIEVD_MODEL_MAP`
decides: a client name maps to an upstream model name, or to "extractive"; "*" maps every other
name; a name that no entry matches goes to the upstream unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from retrievd.config import Settings
from retrievd.runtime.providers.base import Provider
from retrievd.runtime.providers.extractive import ExtractiveProvider
from retrievd.runtime.providers.openai_compatible import OpenAICompatibleProvider

EXTRACTIVE = "extractive"


@dataclass(frozen=True)
class Route:
    provider: Provider
    model: str  # the name the provider is asked for


def route(settings: Settings, model: str) -> Route:
    target = settings.model_map.get(model, settings.model_map.get("*", model))
    if settings.upstream_base_url is None or target == EXTRACTIVE:
        return Route(ExtractiveProvider(context_tokens=settings.model_context_tokens), model)
    upstream = OpenAICompatibleProvider(
        settings.upstream_base_url,
        settings.upstream_api_key,
        context_tokens=settings.model_context_tokens,
        timeout_s=settings.upstream_timeout_s,
    )
    return Route(upstream, target)
