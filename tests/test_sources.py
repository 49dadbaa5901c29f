"""Sources: the sources file, product inference, what a mirror folder stands in for, and which
files of a folder are read."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.sources import SourceSpec, infer_product, read_sources_file, resolve
from rag.errors import SourceError
from rag.settings import Settings
from tests.documents import ETL_NOTEBOOK, SQL_NOTEBOOK
from tests.httpd import write_tar_gz

SPARK_GUIDES = SourceSpec(
    "http://127.0.0.1:9/v4.0.1.tar.gz",
    name="spark-guides",
    product="spark",
    version="4.0.1",
    include=("docs/*.md",),
    prefix="spark",
    mirror="spark",
)


def test_the_sources_file_reads_every_kind_of_entry(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    path = tmp_path / "sources.toml"
    path.write_text(
        '[[source]]\nname = "team-notes"\npath = "notes"\nproduct = "team"\n\n'
        '[[source]]\npackage = "pypi:delta-spark==4.0.0"\nproduct = "delta"\n\n'
        '[[source]]\nname = "delta-guides"\nurl = "https://example.org/delta.tar.gz"\n'
        'include = ["docs/*.mdx", "PROTOCOL.md"]\nprefix = "delta"\nmirror = "delta"\n'
        'reference = ["delta/PROTOCOL.md"]\n'
    )
    notes, package, guides = read_sources_file(path)
    assert (notes.spec, notes.name, notes.product) == (
        str(tmp_path / "notes"),
        "team-notes",
        "team",
    )
    assert (package.spec, package.product) == ("pypi:delta-spark==4.0.0", "delta")
    assert guides.include == ("docs/*.mdx", "PROTOCOL.md") and guides.prefix == "delta"
    assert (guides.mirror, guides.reference) == ("delta", ("delta/PROTOCOL.md",))


@pytest.mark.parametrize(
    ("text", "problem"),
    [("[[source]]\nname = 'x'\n", "needs path, url or package"), ("[[source", "fix the file")],
)
def test_a_bad_sources_file_names_itself_and_the_fix(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "sources.toml"
    path.write_text(text)
    with pytest.raises(SourceError, match=rf"{path}: .*{problem}"):
        read_sources_file(path)


def github_archive(path: Path, files: dict[str, str]) -> Path:
    """A .tar.gz laid out as GitHub serves a tag: everything under one top folder."""
    return write_tar_gz(path, {f"spark-4.0.1/{name}": text for name, text in files.items()})


def test_a_mirrored_archive_is_read_with_the_sources_include_and_prefix(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    github_archive(
        mirror / "spark.tar.gz",
        {"docs/tuning.md": "# Tuning\n\nUse Kryo.\n", "README.md": "# Apache Spark\n"},
    )
    source = resolve(SPARK_GUIDES, Settings(home=tmp_path / "home", mirror=mirror))
    assert [item.source for item in source.items] == ["spark/docs/tuning.md"]
    assert (source.product, source.version) == ("spark", "4.0.1")


def test_a_mirror_folder_is_read_as_laid_out(tmp_path: Path) -> None:
    (tmp_path / "mirror" / "spark" / "docs").mkdir(parents=True)
    (tmp_path / "mirror" / "spark" / "docs" / "tuning.md").write_text("# Tuning\n\nUse Kryo.\n")
    source = resolve(SPARK_GUIDES, Settings(home=tmp_path / "home", mirror=tmp_path / "mirror"))
    assert [item.source for item in source.items] == ["spark/docs/tuning.md"]


def test_a_mirror_without_the_source_names_both_places_it_looked(tmp_path: Path) -> None:
    (tmp_path / "mirror").mkdir()
    with pytest.raises(SourceError, match=r"mirror folder .*spark not found \(nor an archive"):
        resolve(SPARK_GUIDES, Settings(home=tmp_path / "home", mirror=tmp_path / "mirror"))


@pytest.mark.parametrize(
    ("path", "product"),
    [
        ("pypi:delta-spark==4.0.0", "delta"),
        ("pypi:pyspark-client==4.0.1", "spark"),
        ("/corpus/mlflow/docs/x.mdx", "mlflow"),
        ("pdf/huangyibo_spark-summit-17/deck.pdf", "spark"),
        ("notes/oncall.md", "docs"),
    ],
)
def test_product_is_inferred_from_the_first_name_in_the_path(path: str, product: str) -> None:
    assert infer_product(path) == product


def test_a_folders_code_files_are_read_only_when_they_are_databricks_notebooks(
    tmp_path: Path,
) -> None:
    root = tmp_path / "workspace"
    (root / "jobs").mkdir(parents=True)
    (root / "jobs" / "etl.py").write_text(ETL_NOTEBOOK)
    (root / "jobs" / "helpers.py").write_text("def rows():\n    return 1\n")
    (root / "jobs" / "gold.sql").write_text(SQL_NOTEBOOK)
    (root / "jobs" / "schema.sql").write_text("CREATE TABLE t (id INT);\n")
    (root / "jobs" / "workspace.dbc").write_bytes(b"PK\x03\x04")
    (root / "etl-link.py").symlink_to("jobs/etl.py")
    (root / "helpers-link.py").symlink_to("jobs/helpers.py")
    source = resolve(SourceSpec(str(root)), Settings(home=tmp_path / "home"))
    items = {item.source: item for item in source.items}
    assert set(items) == {"etl-link.py", "jobs/etl.py", "jobs/gold.sql", "jobs/workspace.dbc"}
    assert items["jobs/etl.py"].load().title == "Nightly events load"
    with pytest.raises(SourceError, match=r"^jobs/workspace\.dbc: .*export the notebooks as"):
        items["jobs/workspace.dbc"].load()
