"""Finding corpus folders from a config file, an environment variable or the default ./data."""

from __future__ import annotations

from pathlib import Path

import pytest

from extract.corpora import KEYS, CorpusError
from extract.corpora.locate import (
    CONFIG_ENV,
    ROOT_ENV,
    LocateError,
    config_path,
    corpus_root,
    corpus_roots,
    read_config,
    resolve_data_root,
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No inherited settings; the working directory is an empty temporary folder."""
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    monkeypatch.delenv(ROOT_ENV, raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def make_dirs(base: Path, *names: str) -> None:
    for name in names:
        (base / name).mkdir(parents=True)


def test_default_data_root_is_dot_data(clean_env: Path) -> None:
    make_dirs(clean_env / "data", "emodb", "emovo", "not-a-corpus")
    (clean_env / "data" / "cafe").write_text("a file, not a folder")
    roots = corpus_roots()
    assert roots == {"emodb": Path("data/emodb"), "emovo": Path("data/emovo")}
    assert list(roots) == [k for k in KEYS if k in roots]  # registry order


def test_nothing_found_is_empty_not_an_error() -> None:
    assert corpus_roots() == {}


def test_env_data_root_and_argument_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env_root, arg_root = tmp_path / "env", tmp_path / "arg"
    make_dirs(env_root, "shemo")
    make_dirs(arg_root, "tess")
    monkeypatch.setenv(ROOT_ENV, str(env_root))
    assert corpus_roots() == {"shemo": env_root / "shemo"}
    assert corpus_roots(data_root=arg_root) == {"tess": arg_root / "tess"}
    assert resolve_data_root() == env_root
    assert resolve_data_root(arg_root) == arg_root


def test_keys_limit_the_search(tmp_path: Path) -> None:
    make_dirs(tmp_path, "emodb", "emovo", "cafe")
    assert corpus_roots(tmp_path, keys=["emovo", "emodb"]) == {"emodb": tmp_path / "emodb", "emovo": tmp_path / "emovo"}
    with pytest.raises(LocateError, match="unknown corpus key 'emobd'.*did you mean 'emodb'"):
        corpus_roots(tmp_path, keys=["emobd"])


def test_config_overrides_data_root(tmp_path: Path) -> None:
    data = tmp_path / "data"
    make_dirs(data, "emodb", "emovo")
    elsewhere = tmp_path / "disk" / "EmoDB-original"
    elsewhere.mkdir(parents=True)
    relative = tmp_path / "cfg" / "CaFE_48k"
    relative.mkdir(parents=True)
    cfg = tmp_path / "cfg" / "mine.toml"
    cfg.write_text(f'[corpora]\nemodb = "{elsewhere.as_posix()}"\ncafe = "CaFE_48k"\n')
    roots = corpus_roots(data_root=data, config=cfg)
    assert roots == {"cafe": relative, "emodb": elsewhere, "emovo": data / "emovo"}
    assert list(roots) == ["cafe", "emodb", "emovo"]


def test_config_from_env_and_from_working_directory(
    monkeypatch: pytest.MonkeyPatch, clean_env: Path, tmp_path: Path
) -> None:
    target = tmp_path / "aesdd-files"
    target.mkdir()
    (clean_env / "probe-data.toml").write_text(f'[corpora]\naesdd = "{target.as_posix()}"\n')
    assert config_path() == Path("probe-data.toml")
    assert corpus_roots() == {"aesdd": target}

    other = tmp_path / "other.toml"
    other_target = tmp_path / "eyase-files"
    other_target.mkdir()
    other.write_text(f'[corpora]\neyase = "{other_target.as_posix()}"\n')
    monkeypatch.setenv(CONFIG_ENV, str(other))
    assert config_path() == other  # the environment wins over ./probe-data.toml
    assert corpus_roots() == {"eyase": other_target}


def test_config_named_but_missing_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(LocateError, match="does not exist"):
        corpus_roots(config=tmp_path / "nope.toml")
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "nope-either.toml"))
    with pytest.raises(LocateError, match=r"nope-either\.toml.*PROBE_DATA_CONFIG"):
        corpus_roots()


def test_config_with_missing_folder(tmp_path: Path) -> None:
    cfg = tmp_path / "probe-data.toml"
    cfg.write_text(f'[corpora]\nemodb = "{(tmp_path / "gone").as_posix()}"\n')
    with pytest.raises(LocateError, match="corpora.emodb.*gone.*not an existing folder"):
        corpus_roots(config=cfg)
    # a broken entry for a corpus that was not asked for does not block the others
    make_dirs(tmp_path / "data", "emovo")
    assert corpus_roots(tmp_path / "data", config=cfg, keys=["emovo"]) == {"emovo": tmp_path / "data" / "emovo"}


def test_config_with_unknown_key(tmp_path: Path) -> None:
    cfg = tmp_path / "probe-data.toml"
    cfg.write_text('[corpora]\nravdes = "/somewhere"\n')
    with pytest.raises(LocateError, match="unknown corpus key 'ravdes'.*did you mean 'ravdess'"):
        corpus_roots(config=cfg)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[corpora\nemodb = 1", "not valid TOML"),
        ("corpora = 3\n", "must be a table"),
        ("[corpora]\nemodb = 3\n", "must be a folder path string"),
        ('[corpora]\nemodb = ""\n', "must be a folder path string"),
    ],
)
def test_bad_config_files(tmp_path: Path, text: str, message: str) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    with pytest.raises(LocateError, match=message):
        read_config(cfg)


def test_home_is_expanded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "corpora" / "oreau").mkdir(parents=True)
    cfg = tmp_path / "c.toml"
    cfg.write_text('[corpora]\noreau = "~/corpora/oreau"\n')
    assert corpus_roots(config=cfg) == {"oreau": tmp_path / "corpora" / "oreau"}


def test_corpus_root_single(tmp_path: Path) -> None:
    make_dirs(tmp_path, "emodb")
    assert corpus_root("emodb", data_root=tmp_path) == tmp_path / "emodb"
    with pytest.raises(LocateError, match=r"corpus 'emovo' not found.*PROBE_DATA_ROOT") as caught:
        corpus_root("emovo", data_root=tmp_path)
    assert isinstance(caught.value, CorpusError)  # callers catching corpus errors get these too
