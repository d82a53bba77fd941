"""The configured models: `provider:model-id` names, display names and short aliases."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

PROVIDERS = ("openai", "anthropic", "google", "openrouter", "ollama")
PROVIDER_SYNONYMS = {"gemini": "google", "claude": "anthropic"}

DEFAULT_MODEL_PER_PROVIDER = {
    "anthropic": "anthropic:claude-sonnet-4-5",
    "openai": "openai:gpt-5.1",
    "google": "google:gemini-2.5-pro",
    "openrouter": "openrouter:meta-llama/llama-4-maverick",
}

# Family words that make good aliases, in the order they are looked for in a model id.
_SHOWN_IN_FULL = 40  # characters: longer than any model name, shorter than a key
_SHOWN_START = 10
_FAMILIES = ("claude", "gpt", "gemini", "llama", "mistral", "mixtral", "qwen", "deepseek", "grok")
_UPPER_WORDS = {"gpt": "GPT", "ai": "AI", "oss": "OSS"}
# Dated snapshots: claude-…-20250929, o1-2024-12-17.
_SNAPSHOT_DATE = re.compile(r"-(?:\d{8}|\d{4}-\d{2}-\d{2})$")
_O_SERIES = re.compile(r"o\d", re.IGNORECASE)
# What tells two models of one display name apart, in the order tried.
_PROVIDER_NAMES = {
    "openai": "OpenAI",
    "anthropic": "Anthropic",
    "google": "Google",
    "openrouter": "OpenRouter",
    "ollama": "local",
}


class CatalogError(ValueError):
    """A model name or list is not usable."""


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One configured model."""

    provider: str
    model_id: str
    display_name: str

    @property
    def name(self) -> str:
        return f"{self.provider}:{self.model_id}"

    @classmethod
    def parse(cls, name: str) -> ModelSpec:
        provider, sep, model_id = name.strip().partition(":")
        provider = PROVIDER_SYNONYMS.get(provider.lower(), provider.lower())
        if not sep or not model_id:
            raise CatalogError(f"model {_shown(name)} must look like provider:model-id")
        if provider not in PROVIDERS:
            raise CatalogError(
                f"unknown provider {_shown(provider)} in {_shown(name)}; "
                f"known providers: {', '.join(PROVIDERS)}"
            )
        return cls(provider, model_id, display_name_for(model_id))


def _shown(entry: str) -> str:
    """An entry of CHORUS_MODELS as an error names it: a long one only by its start, as it
    may be a key pasted into the wrong variable."""
    entry = entry.strip()
    return repr(entry) if len(entry) <= _SHOWN_IN_FULL else f"{entry[:_SHOWN_START]!r}…"


def display_name_for(model_id: str) -> str:
    """A readable name: `claude-sonnet-4-5` → `Claude Sonnet 4.5`, `gpt-5.1` → `GPT-5.1`."""
    base = model_id.rsplit("/", 1)[-1].split(":")[0]
    base = _SNAPSHOT_DATE.sub("", base)
    if base.lower().startswith("gpt-"):
        return "GPT-" + base[4:]
    if _O_SERIES.match(base):
        return base  # as OpenAI writes them: o3, o4-mini
    words = base.replace("_", "-").split("-")
    out: list[str] = []
    for word in words:
        if out and _is_version(word) and _is_version(out[-1].replace(".", "")):
            out[-1] = f"{out[-1]}.{word}"  # 4-5 → 4.5
        elif out and word.isdigit() and out[-1].isdigit():
            out[-1] = f"{out[-1]}-{word}"  # preview-05-20: a date
        else:
            out.append(_UPPER_WORDS.get(word.lower(), word[:1].upper() + word[1:]))
    return " ".join(out)


def _is_version(word: str) -> bool:
    return word.isdigit() and not (word.startswith("0") and len(word) > 1)


def _tag(spec: ModelSpec) -> str:
    """The variant an id names after its last colon: `qwen2.5-coder:7b`, `…-instruct:free`."""
    _, colon, tag = spec.model_id.rpartition(":")
    return tag if colon else ""


def _distinct_names(specs: tuple[ModelSpec, ...]) -> tuple[ModelSpec, ...]:
    """The models, each posted under a name no other has: a shared display name gets the
    model's variant, else its provider, else its full name, in brackets."""
    qualifiers = (_tag, lambda spec: _PROVIDER_NAMES[spec.provider], lambda spec: spec.name)
    for qualifier in qualifiers:
        counts = Counter(spec.display_name for spec in specs)
        specs = tuple(
            replace(spec, display_name=f"{spec.display_name} ({qualifier(spec)})")
            if counts[spec.display_name] > 1 and qualifier(spec)
            else spec
            for spec in specs
        )
    return specs


def _family(model_id: str) -> str | None:
    lowered = model_id.lower()
    for family in _FAMILIES:
        if family in lowered:
            return family
    return None


def parse_model_list(value: str) -> list[ModelSpec]:
    """Parse a comma-separated `CHORUS_MODELS` value, rejecting duplicates."""
    parts = [part.strip() for part in value.split(",") if part.strip()]
    if not parts:
        raise CatalogError(
            "CHORUS_MODELS names no model: list them separated by commas (e.g. "
            "'anthropic:claude-sonnet-4-5,openai:gpt-5.1')"
        )
    for part in parts:
        if re.search(r"[\s;]", part):
            raise CatalogError(
                f"CHORUS_MODELS separates models with commas: {part!r} is not one model"
            )
    try:
        specs = [ModelSpec.parse(part) for part in parts]
    except CatalogError as error:
        raise CatalogError(f"CHORUS_MODELS: {error}") from None
    # Models are found without regard to case: `openai:GPT-5.1` would be `openai:gpt-5.1`.
    names = [spec.name.lower() for spec in specs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise CatalogError(f"model listed twice in CHORUS_MODELS: {', '.join(duplicates)}")
    return specs


class ModelCatalog:
    """The models in configured order, each reachable by full name, model id or alias."""

    def __init__(self, specs: Iterable[ModelSpec]) -> None:
        self.models: tuple[ModelSpec, ...] = _distinct_names(tuple(specs))
        if not self.models:
            raise CatalogError("no models configured")
        self.aliases: dict[str, ModelSpec] = self._assign_aliases()
        self._lookup: dict[str, ModelSpec] = {}
        for spec in self.models:
            self._lookup.setdefault(spec.name.lower(), spec)
            self._lookup.setdefault(spec.model_id.lower(), spec)
        for alias, spec in self.aliases.items():
            self._lookup.setdefault(alias, spec)

    def _assign_aliases(self) -> dict[str, ModelSpec]:
        families = [_family(spec.model_id) for spec in self.models]
        aliases: dict[str, ModelSpec] = {}
        for spec, family in zip(self.models, families, strict=True):
            unique_family = family is not None and families.count(family) == 1
            alias = family if unique_family else spec.model_id.rsplit("/", 1)[-1].lower()
            # `openai:gpt-5.1` and `openrouter:openai/gpt-5.1`; `openrouter:qwen/qwen3-coder`
            # and `ollama:qwen3-coder`, whose id `qwen3-coder` names it: the full name, then.
            if not alias or alias in aliases or self._names_another(alias, spec):
                alias = spec.name.lower()
            aliases[alias] = spec
        return aliases

    def _names_another(self, word: str, spec: ModelSpec) -> bool:
        return any(
            word in (other.model_id.lower(), other.name.lower())
            for other in self.models
            if other != spec
        )

    def alias_of(self, spec: ModelSpec) -> str:
        return next(alias for alias, candidate in self.aliases.items() if candidate == spec)

    def find(self, word: str) -> ModelSpec | None:
        """The model a user's word names (alias, model id or full name), if any."""
        return self._lookup.get(word.lower())

    def get(self, name: str) -> ModelSpec:
        """The model with this full `provider:model-id` name; stored names that are no longer
        configured still resolve, so old threads keep working after a configuration change."""
        spec = self._lookup.get(name.lower())
        return spec if spec is not None else ModelSpec.parse(name)

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self.models)

    def __len__(self) -> int:
        return len(self.models)
