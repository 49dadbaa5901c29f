"""Tests for ingest.loaders: the rules of each format, bad input, and the real shared corpus."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import time
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.loaders import SUPPORTED_SUFFIXES, load_bytes, load_file
from rag.errors import SourceError
from rag.models import Block, Document
from tests.documents import make_pdf

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("LAKESAGE_TEST_CORPUS", REPO.parent / "shared" / "corpus"))


def parse(text: str, source: str = "docs/page.md") -> Document:
    """Parse text as the format its source name implies."""
    return load_bytes(text.encode("utf-8"), source)


def prose(doc: Document) -> list[str]:
    """Texts of the non-code blocks."""
    return [b.text for b in doc.blocks if not b.code]


def code(doc: Document) -> list[str]:
    """Texts of the code blocks."""
    return [b.text for b in doc.blocks if b.code]


def find(doc: Document, needle: str) -> Block:
    """The first block containing needle."""
    for block in doc.blocks:
        if needle in block.text:
            return block
    raise AssertionError(f"no block contains {needle!r}: {[b.text for b in doc.blocks]}")


def all_text(doc: Document) -> str:
    """Every block text joined."""
    return "\n".join(b.text for b in doc.blocks)


# ---------------------------------------------------------------------------- Markdown


def test_front_matter_display_title_wins_over_title() -> None:
    doc = parse(
        "---\nlayout: global\ntitle: Short\ndisplayTitle: Structured Streaming Guide\n"
        "license: |\n  Licensed to the ASF.\n---\n\n# Quick Example\n\nSome text.\n"
    )
    assert doc.title == "Structured Streaming Guide"
    assert doc.format == "md"
    assert doc.blocks == [Block("Some text.", ("Quick Example",))]
    assert "Licensed" not in all_text(doc)


def test_front_matter_title_and_matching_h1_is_not_repeated() -> None:
    doc = parse(
        '---\ntitle: "Table batch reads"\n---\n# Table batch reads\n\nIntro.\n\n## Create\n\nBody.\n'
    )
    assert doc.title == "Table batch reads"
    assert [(b.text, b.headings) for b in doc.blocks] == [("Intro.", ()), ("Body.", ("Create",))]


def test_title_falls_back_to_first_h1_then_filename() -> None:
    doc = parse("Lead paragraph.\n\n# The Title\n\n## Part\n\nText.\n")
    assert doc.title == "The Title"
    assert find(doc, "Text.").headings == ("Part",)
    assert parse("Just text.\n", "spark/docs/sql-data-sources.md").title == "Sql Data Sources"
    assert parse("Just text.\n", "mlflow/docs/tracking/quickstart/index.mdx").title == "Quickstart"


def test_heading_levels_build_the_path() -> None:
    doc = parse(
        "# Title\n\n## Configuration\n\nA.\n\n### Runtime Environment\n\nB.\n\n"
        "#### Deep ####\n\nC.\n\n## Other\n\nD.\n\n# Second Top\n\nE.\n"
    )
    assert [(b.text, b.headings) for b in doc.blocks] == [
        ("A.", ("Configuration",)),
        ("B.", ("Configuration", "Runtime Environment")),
        ("C.", ("Configuration", "Runtime Environment", "Deep")),
        ("D.", ("Other",)),
        ("E.", ("Second Top",)),
    ]


def test_setext_headings() -> None:
    doc = parse("Guide\n=====\n\nIntro.\n\nSection\n-------\n\nBody.\n")
    assert doc.title == "Guide"
    assert [(b.text, b.headings) for b in doc.blocks] == [("Intro.", ()), ("Body.", ("Section",))]


def test_heading_anchor_and_bold_are_cleaned() -> None:
    doc = parse("# T\n\n## **Output** Modes {#output-modes}\n\nText.\n")
    assert doc.blocks[0].headings == ("Output Modes",)


def test_heading_without_content_is_not_lost() -> None:
    doc = parse("# T\n\n## Empty\n\n## Full\n\nText.\n")
    assert [(b.text, b.headings) for b in doc.blocks] == [
        ("Empty", ("Empty",)),
        ("Text.", ("Full",)),
    ]


def test_paragraphs_lists_and_tables_are_separate_blocks() -> None:
    doc = parse(
        "# T\n\nFirst paragraph\nstill first.\n\nSecond paragraph.\n\n- one\n- two\n  continued\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n"
    )
    assert prose(doc) == [
        "First paragraph\nstill first.",
        "Second paragraph.",
        "- one\n- two\n  continued",
        "| a | b |\n|---|---|\n| 1 | 2 |",
    ]


def test_big_pipe_table_is_split_with_its_header_repeated() -> None:
    rows = "".join(f"| key{i} | {'value ' * 10}|\n" for i in range(100))
    doc = parse(f"# T\n\n| Key | Value |\n|---|---|\n{rows}")
    assert len(doc.blocks) > 1
    assert all(b.text.startswith("| Key | Value |\n|---|---|\n") for b in doc.blocks)
    assert "key0" in doc.blocks[0].text and "key99" in doc.blocks[-1].text


def test_fenced_code_is_kept_whole_with_its_fences() -> None:
    doc = parse(
        "# T\n\nRun:\n\n```python\nimport os\n\n\n\n\n# not a heading\nprint(1)\n```\n\nAfter.\n"
    )
    assert code(doc) == ["```python\nimport os\n\n\n# not a heading\nprint(1)\n```"]
    assert find(doc, "import os").code
    assert find(doc, "After.").headings == ()


def test_tilde_and_long_fences_become_backtick_fences() -> None:
    doc = parse("~~~sql\nSELECT 1\n~~~\n\n````md\n```js\nx\n```\n````\n")
    assert code(doc) == ["```sql\nSELECT 1\n```", "````md\n```js\nx\n```\n````"]


def test_unclosed_fence_runs_to_the_end() -> None:
    doc = parse("Intro.\n\n```\ncode line\n\nmore code\n")
    assert code(doc) == ["```\ncode line\n\nmore code\n```"]


def test_indented_code_block_but_not_list_continuation() -> None:
    doc = parse(
        "Units:\n\n    25ms (milliseconds)\n    5s (seconds)\n\n"
        "- item\n\n    continuation of the item\n"
    )
    assert code(doc) == ["```\n25ms (milliseconds)\n5s (seconds)\n```"]
    # As CommonMark reads it: a paragraph of the item, which makes the list loose.
    assert prose(doc) == ["Units:", "- item\n\n  continuation of the item"]


def test_code_indented_under_a_list_item_is_code() -> None:
    doc = parse(
        "- **Kerberos credential cache**, such as,\n\n"
        "      ./bin/spark-submit \\\n          --conf x=y \\\n          ...\n\nAfter.\n"
    )
    assert prose(doc) == ["- **Kerberos credential cache**, such as,", "After."]
    assert code(doc) == ["```\n./bin/spark-submit \\\n    --conf x=y \\\n    ...\n```"]


def test_a_term_in_bold_over_its_description_reads_as_one_item() -> None:
    doc = parse(
        "### Parameters\n\n* **SORT BY**\n\n    Specifies an ordering within each partition.\n\n"
        "* **LIMIT**\n\n    Caps the rows.\n\n    **Syntax:** `LIMIT n`\n\n* **plain** item\n"
    )
    assert prose(doc) == [
        "* **SORT BY**: Specifies an ordering within each partition.\n\n"
        "* **LIMIT**: Caps the rows.\n\n  **Syntax:** `LIMIT n`\n\n"
        "* **plain** item"
    ]


def test_lists_and_quotes_keep_their_markers_and_nesting() -> None:
    doc = parse("- a\n  - b\n  lazy\n- c\n\n3) three\n4) four\n\n> quoted\nlazy quote\n>\n> more\n")
    assert prose(doc) == [
        "- a\n  - b\n    lazy\n- c",
        "3) three\n4) four",
        "> quoted\n> lazy quote\n>\n> more",
    ]


def test_table_cells_keep_inline_code_and_escaped_pipes() -> None:
    doc = parse("| Key | Meaning |\n|:--|--:|\n| `a \\| b` | **either** [one](x) |\n")
    assert prose(doc) == ["| Key | Meaning |\n|---|---|\n| `a \\| b` | **either** one |"]


def test_fence_with_code_on_its_line_ends_where_it_was_meant_to() -> None:
    # An upstream typo: CommonMark would read on through the next fence, turning prose into code.
    doc = parse(
        "```sql CREATE TABLE t (\nid INT) USING DELTA; ```\n\nProse after.\n\n```python\nx = 1\n```\n"
    )
    assert code(doc) == [
        "```sql\nCREATE TABLE t (\nid INT) USING DELTA;\n```",
        "```python\nx = 1\n```",
    ]
    assert prose(doc) == ["Prose after."]


def test_code_fenced_on_one_line_is_a_code_block() -> None:
    # An upstream typo (Delta's clustering page): CommonMark would read inline code.
    doc = parse(
        "Change them:\n\n<Tabs>\n  <TabItem>\n    ```sql ALTER TABLE t CLUSTER BY (a, b); ```\n"
        "  </TabItem>\n</Tabs>\n\nInline ```x``` stays.\n",
        "docs/page.mdx",
    )
    assert code(doc) == ["```sql\nALTER TABLE t CLUSTER BY (a, b);\n```"]
    assert prose(doc) == ["Change them:", "Inline ```x``` stays."]


def test_liquid_highlight_becomes_fenced_code() -> None:
    doc = parse(
        '<div class="codetabs">\n<div data-lang="python" markdown="1">\n\n'
        "{% highlight python %}\nspark = SparkSession.builder.getOrCreate()\n{% endhighlight %}\n\n"
        "</div>\n</div>\n"
    )
    assert doc.blocks == [
        Block("```python\nspark = SparkSession.builder.getOrCreate()\n```", (), True)
    ]


def test_liquid_stays_in_code_and_goes_from_prose() -> None:
    doc = parse(
        "Spark {{site.SPARK_VERSION}} uses `{{site.SCALA_BINARY_VERSION}}`.\n\n"
        "    artifactId = spark-core_{{site.SCALA_BINARY_VERSION}}\n\n"
        "![Async Progress Tracking]({{ rel_path_to_root }}img/async-progress.png)\n"
    )
    assert prose(doc) == [
        "Spark  uses `{{site.SCALA_BINARY_VERSION}}`.",
        "Async Progress Tracking",
    ]
    assert code(doc) == ["```\nartifactId = spark-core_{{site.SCALA_BINARY_VERSION}}\n```"]


def test_a_table_of_contents_placeholder_is_dropped_whatever_it_says() -> None:
    doc = parse("---\ntitle: Hive\n---\n* Table of contents\n{:toc}\n\nHive tables are read.\n")
    assert prose(doc) == ["Hive tables are read."]


def test_liquid_includes_and_tags_are_dropped() -> None:
    doc = parse(
        "---\ntitle: ML\n---\n* This will become a table of contents (this text will be scraped).\n"
        "{:toc}\n\n{% include_example python/ml/pipeline_example.py %}\n"
        "{% include rel_path_to_root.html %}\n\n"
        "See [the code]({{site.SPARK_GITHUB_URL}}/blob/x.py) for {% raw %}details{% endraw %}.\n"
        "Set {{APP_ID}} in the path.\n"
    )
    text = all_text(doc)
    assert "{%" not in text and "{:" not in text and "site." not in text
    assert "include_example" not in text and "table of contents" not in text
    assert prose(doc) == ["See the code for details.\nSet {{APP_ID}} in the path."]


def test_prose_of_a_language_code_tab_is_marked_with_its_language() -> None:
    doc = parse(
        '# Run SQL\n\n<div class="codetabs">\n<div data-lang="scala"  markdown="1">\n'
        "The `sql` function returns a `DataFrame`.\n\n- Import `spark.implicits._` first.\n"
        "- Then call it.\n\n"
        "{% include_example run_sql scala/SQLExample.scala %}\n</div>\n\n"
        '<div data-lang="python" markdown="1">\nThe `sql` function returns a `DataFrame` too.\n'
        '</div>\n\n<div data-lang="r" markdown="1">\n'
        "The `sql` function returns a `SparkDataFrame`.\n</div>\n</div>\n\n"
        "Queries run lazily in every language.\n"
    )
    assert prose(doc) == [
        "(Scala) The `sql` function returns a `DataFrame`.",
        "- (Scala) Import `spark.implicits._` first.\n- Then call it.",
        "The `sql` function returns a `DataFrame` too.",
        "(R) The `sql` function returns a `SparkDataFrame`.",
        "Queries run lazily in every language.",
    ]


def test_links_images_and_escapes_keep_their_text_and_inline_code() -> None:
    doc = parse(
        "Use [`SparkConf`](api/SparkConf.html) or [docs][ref] and ![diagram](img.png).\n"
        "Code `[not](a link)` and `<b>` stay; \\<stage\\> is escaped; "
        "<https://spark.apache.org> is a link.\n\n[ref]: https://example.com\n"
    )
    assert prose(doc) == [
        "Use `SparkConf` or docs and diagram.\n"
        "Code `[not](a link)` and `<b>` stay; <stage> is escaped; "
        "https://spark.apache.org is a link."
    ]


def test_html_comments_and_inline_html_are_removed() -> None:
    doc = parse(
        "<!-- START doctoc\nmulti-line -->\n# T\n\nA <b>bold</b> <code>spark.x</code> word "
        "<!-- hidden --> here.<br/>Next.\n\nGenerics like List<String> stay.\n"
    )
    assert prose(doc) == ["A bold `spark.x` word  here.\nNext.", "Generics like List<String> stay."]


def test_html_table_in_markdown_gives_rows_under_the_heading() -> None:
    doc = parse(
        '# T\n\n### Application Properties\n\n<table class="spark-config">\n'
        "<thead><tr><th>Property Name</th><th>Default</th></tr></thead>\n<tr>\n"
        "  <td><code>spark.app.name</code></td>\n  <td>(none)</td>\n</tr>\n</table>\n\nAfter.\n"
    )
    assert doc.blocks[0] == Block(
        "Property Name | Default\n`spark.app.name` | (none)",
        ("Application Properties",),
        table_header=1,
    )
    assert doc.blocks[1].text == "After."


def test_html_table_with_blank_lines_stays_one_table() -> None:
    # CommonMark ends an HTML block at a blank line; kramdown (and MDX) read the table whole.
    doc = parse(
        "<table>\n<tr><th>Property</th><th>Meaning</th></tr>\n\n<tr>\n  <td>spark.x</td>\n  <td>\n"
        "    First part.\n\n    <em>Note:</em> second part.\n  </td>\n</tr>\n</table>\n\nAfter.\n"
    )
    assert [(b.text, b.code) for b in doc.blocks] == [
        ("Property | Meaning\nspark.x | First part. Note: second part.", False),
        ("After.", False),
    ]


def test_html_table_row_with_line_breaks_stays_one_line() -> None:
    doc = parse(
        "<table><tr><th>Property Name</th><th>Default</th><th>Meaning</th></tr>"
        "<tr><td><code>spark.x</code></td><td>1</td><td>Sets x.<br/>Example: <code>2</code>"
        "</td></tr><tr><td><code>spark.y</code></td><td>0</td><td>Sets y.</td></tr></table>",
        "p.html",
    )
    assert doc.blocks[0].text.split("\n") == [
        "Property Name | Default | Meaning",
        "`spark.x` | 1 | Sets x. Example: `2`",
        "`spark.y` | 0 | Sets y.",
    ]


def test_long_table_row_is_cut_into_rows_that_repeat_its_other_cells() -> None:
    modes = "".join(
        f"<li><code>{m}</code>: {'what this mode does with a corrupt record, in words. ' * 3}</li>"
        for m in ("PERMISSIVE", "DROPMALFORMED", "FAILFAST")
    )
    doc = parse(
        "<table><tr><th>Property Name</th><th>Default</th><th>Meaning</th><th>Scope</th></tr>"
        "<tr><td><code>mode</code></td><td>PERMISSIVE</td><td>Allows a mode for corrupt records."
        f" It supports these modes:<ul>{modes}</ul></td><td>read</td></tr></table>",
        "p.html",
    )
    header, *rows = doc.blocks[0].text.split("\n")
    assert header == "Property Name | Default | Meaning | Scope"
    assert len(rows) > 1 and all(len(row) < 450 for row in rows)
    assert all(row.startswith("`mode` | PERMISSIVE | ") and row.endswith(" | read") for row in rows)
    assert "modes: - `PERMISSIVE`: what" in rows[0]  # a list's lead-in stays with its first item
    assert "- `FAILFAST`: what" in rows[-1]
    meanings = " ".join(row.split(" | ")[2] for row in rows)
    assert meanings.count("corrupt record, in words.") == 9


def test_long_pipe_table_row_is_cut_too() -> None:
    meaning = "A sentence about this setting and its effect. " * 15
    doc = parse(f"| Key | Meaning | Since |\n|---|---|---|\n| `k` | {meaning}| 1.0 |\n")
    _header, _rule, *rows = doc.blocks[0].text.split("\n")
    assert doc.blocks[0].table_header == 2
    assert len(rows) > 1
    assert all(row.startswith("| `k` | A sentence") and row.endswith(" | 1.0 |") for row in rows)


def test_kramdown_markdown_element_content_is_markdown() -> None:
    doc = parse(
        '<div data-lang="python" markdown="1">\nSee [the guide](g.html) and `spark.sql`.\n</div>\n\n'
        '<p style="text-align: center;">\n  <img src="x.png" title="Jobs page" alt="Jobs page"/>\n</p>\n'
    )
    assert prose(doc) == ["See the guide and `spark.sql`.", "Jobs page"]


def test_crlf_and_trailing_whitespace_are_normalised() -> None:
    doc = parse("# T\r\n\r\nLine one   \r\nline two\t\r\n\r\n\r\n\r\n\r\nNext.\r\n")
    assert prose(doc) == ["Line one\nline two", "Next."]


def test_plain_markdown_words_all_survive() -> None:
    source = (
        "# Alpha Title\n\nbravo charlie delta.\n\n## Echo Section\n\n* foxtrot\n* golf hotel\n\n"
        "1. india\n2. juliet\n\n> kilo lima quote\n\n**mike** _november_ `oscar`\n"
    )
    doc = parse(source)
    seen = set(
        re.findall(
            r"\w+",
            " ".join([doc.title, all_text(doc)] + [h for b in doc.blocks for h in b.headings]),
        )
    )
    assert set(re.findall(r"\w+", source)) <= seen


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["", "# ", "## ", "### ", "- ", "1. ", "> "]),
            st.lists(st.from_regex(r"[a-z]{1,8}", fullmatch=True), min_size=1, max_size=8),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_property_markdown_words_are_kept(paragraphs: list[tuple[str, list[str]]]) -> None:
    source = "\n\n".join(prefix + " ".join(words) for prefix, words in paragraphs)
    try:
        doc = parse(source)
    except SourceError:
        return  # only headings: nothing to index
    headings = [h for b in doc.blocks for h in b.headings]
    seen = set(" ".join([doc.title, all_text(doc), *headings]).split())
    assert {w for _, words in paragraphs for w in words} <= seen


# ---------------------------------------------------------------------------- MDX


def test_mdx_imports_and_exports_are_dropped() -> None:
    doc = parse(
        '---\nsidebar_position: 2\n---\n\nimport { Aside, Tabs, TabItem } from "@astrojs/starlight/components";\n'
        'import {\n  CardGroup,\n  PageCard,\n} from "@site/src/components/Card";\nimport "./styles.css";\n'
        "export const toc = [\n  { value: 'x', id: 'x' },\n];\n\n# MLflow Quickstart\n\nWelcome.\n\n"
        "```bash\nexport MLFLOW_TRACKING_URI=http://localhost:5000\n```\n",
        "mlflow/quickstart.mdx",
    )
    assert doc.title == "MLflow Quickstart"
    assert doc.format == "mdx"
    assert prose(doc) == ["Welcome."]
    assert code(doc) == ["```bash\nexport MLFLOW_TRACKING_URI=http://localhost:5000\n```"]


def test_mdx_jsx_tags_go_but_their_text_stays() -> None:
    doc = parse(
        '# T\n\nCall <APILink fn="mlflow.log_metric">mlflow.log_metric</APILink> or '
        '<APILink fn="mlflow.log_param" /> now.\n\n<Tabs>\n  <TabItem value="python" label="Python" default>\n'
        "    Inside the tab.\n  </TabItem>\n</Tabs>\n\n"
        '<ImageBox src="/img/ui.png" alt="Experiment page" width="90%"/>\n\n'
        '<div className="center-div" style={{ width: "80%" }}>\n  ![Model](/img/m.png)\n</div>\n'
        '{/* a comment */}Done{" "}here.\n',
        "page.mdx",
    )
    assert prose(doc) == [
        "Call mlflow.log_metric or `mlflow.log_param` now.",
        "Inside the tab.",
        "Experiment page",
        "Model",
        "Done here.",
    ]
    assert "<" not in all_text(doc)


def test_mdx_component_props_with_text_are_kept() -> None:
    doc = parse(
        '# T\n\n<TilesGrid>\n  <TileCard\n    image="/logo.png"\n    title="Quickstart (Python)"\n'
        '    description="Get started with tracing"\n    containerHeight={64}\n  />\n</TilesGrid>\n\n'
        '<FeatureHighlights features={[\n  {\n    icon: Heart,\n    title: "Open Source",\n'
        '    description: "Free to use."\n  },\n]} />\n\n'
        "<LogoCard\n  description={\n    <>\n      Serve with <code>mlflow models serve</code>.\n    </>\n  }\n"
        '  link="/serve"\n>\n  <span>Local</span>\n</LogoCard>\n',
        "page.mdx",
    )
    text = all_text(doc)
    for expected in (
        "Quickstart (Python)",
        "Get started with tracing",
        "Open Source",
        "Free to use.",
        "Serve with `mlflow models serve`.",
        "Local",
    ):
        assert expected in text
    assert "containerHeight" not in text and "icon" not in text


def test_mdx_fences_inside_indented_jsx_are_code() -> None:
    doc = parse(
        '# T\n\n- **SQL DDL**: create tables.\n\n    <Tabs>\n      <TabItem label="SQL" active>\n\n'
        "        ```sql\n        CREATE TABLE t (id INT)\n          USING DELTA\n        ```\n\n"
        "      </TabItem>\n    </Tabs>\n\n    SQL also supports paths.\n",
        "delta.mdx",
    )
    assert code(doc) == ["```sql\nCREATE TABLE t (id INT)\n  USING DELTA\n```"]
    assert prose(doc) == ["- **SQL DDL**: create tables.", "SQL also supports paths."]


def test_mdx_admonitions_lose_markers_keep_content() -> None:
    doc = parse(
        "# T\n\n:::note\nRead this first.\n:::\n\n:::tip Pro Tip\nUse autolog.\n:::\n\n"
        ":::warning[Careful]\nStages are deprecated.\n:::\n",
        "page.mdx",
    )
    assert prose(doc) == [
        "Read this first.",
        "Pro Tip",
        "Use autolog.",
        "Careful",
        "Stages are deprecated.",
    ]


def test_an_aside_title_heads_its_text() -> None:
    doc = parse(
        '# T\n\n<Aside\n  type="caution"\n  title="Important"\n>\n  Enabling it upgrades the protocol.\n'
        '</Aside>\n\n<Aside type="note" title="Important!">\n  Irreversible.\n</Aside>\n',
        "page.mdx",
    )
    assert prose(doc) == [
        "Important:\nEnabling it upgrades the protocol.",
        "Important!\nIrreversible.",
    ]


def test_mdx_indented_text_is_not_code() -> None:
    doc = parse("# T\n\n<Aside>\n\n      Indented prose in a component.\n\n</Aside>\n", "page.mdx")
    assert doc.blocks == [Block("Indented prose in a component.")]


def test_mdx_indentation_inside_jsx_means_nothing() -> None:
    doc = parse(
        "# T\n\n<details>\n  <summary>Register a model</summary>\n\n  <Tabs>\n"
        '    <TabItem label="Python" value="py">\n      #### With the Python API\n\n'
        "      MLflow registers a version\n      ```\n      mlflow.register_model(uri, name)\n      ```\n"
        "    </TabItem>\n  </Tabs>\n</details>\n",
        "page.mdx",
    )
    assert [(b.text, b.headings, b.code) for b in doc.blocks] == [
        ("Register a model", (), False),
        ("MLflow registers a version", ("With the Python API",), False),
        ("```\nmlflow.register_model(uri, name)\n```", ("With the Python API",), True),
    ]


def test_fmt_argument_overrides_the_suffix() -> None:
    doc = load_bytes(b"import x from 'y';\n\nText.\n", "notes.txt", fmt="mdx")
    assert doc.format == "mdx"
    assert prose(doc) == ["Text."]


# ---------------------------------------------------------------------------- reST


RST = """\
=====================
 Delta Sharing Guide
=====================

Intro with :func:`read_table <delta_sharing.read>` and ``load_as_pandas``.
See `the site <https://delta.io>`_.

Installation
============

Install it::

    pip install delta-sharing

.. code-block:: python
   :linenos:

   import delta_sharing
   client = delta_sharing.SharingClient("profile.share")

.. note:: Profiles hold credentials.

   Keep them secret.

.. This is a comment
   spanning lines.

.. _target:

Usage
-----

Use :class:`~delta_sharing.SharingClient`.

----------

Limits
======

None known.
"""


def test_rst_sections_code_and_directives() -> None:
    doc = parse(RST, "guide.rst")
    assert doc.title == "Delta Sharing Guide"
    assert doc.format == "rst"
    assert [(b.text, b.headings, b.code) for b in doc.blocks] == [
        ("Intro with read_table and `load_as_pandas`.\nSee the site.", (), False),
        ("Install it:", ("Installation",), False),
        ("```\npip install delta-sharing\n```", ("Installation",), True),
        (
            '```python\nimport delta_sharing\nclient = delta_sharing.SharingClient("profile.share")\n```',
            ("Installation",),
            True,
        ),
        ("Profiles hold credentials.", ("Installation",), False),
        ("Keep them secret.", ("Installation",), False),
        ("Use delta_sharing.SharingClient.", ("Installation", "Usage"), False),
        ("None known.", ("Limits",), False),
    ]


# ---------------------------------------------------------------------------- text and HTML


def test_txt_paragraphs_and_filename_title() -> None:
    doc = parse("First para\nline two.\n\n\n\nSecond para.\n", "notes/release-notes.txt")
    assert doc.title == "Release Notes"
    assert doc.format == "txt"
    assert prose(doc) == ["First para\nline two.", "Second para."]


HTML = """<!DOCTYPE html>
<html><head><title>Spark &amp; Delta</title>
<style>body { color: red }</style><script>var x = "<p>nope</p>";</script></head>
<body>
<nav><a href="/">Home</a></nav>
<h1>Spark &amp; Delta</h1>
<p>Intro   text
 with &lt;entities&gt;.</p>
<noscript>Enable JS</noscript>
<h2>Setup</h2>
<ul><li>one</li><li>two <code>x</code></li></ul>
<pre><code class="language-python">def f():
    return 1
</code></pre>
<h3>Details</h3>
<table><tr><th>Key</th><th>Value</th></tr><tr><td>a</td><td>1</td></tr></table>
<h2>Next</h2><p>Done.</p>
<template><p>hidden</p></template>
<svg><title>icon</title></svg>
</body></html>
"""


def test_html_structure() -> None:
    doc = parse(HTML, "site/page.html")
    assert doc.title == "Spark & Delta"
    assert doc.format == "html"
    assert [(b.text, b.headings, b.code) for b in doc.blocks] == [
        ("Home", (), False),
        ("Intro text with <entities>.", (), False),
        ("- one\n- two `x`", ("Setup",), False),
        ("```python\ndef f():\n    return 1\n```", ("Setup",), True),
        ("Key | Value\na | 1", ("Setup", "Details"), False),
        ("Done.", ("Next",), False),
    ]


def test_html_image_alt_text_stands_in_for_it() -> None:
    doc = parse(
        "<p>See <img src='dag.png' alt='the DAG' title='the DAG'> here.</p><img src='x.png'>"
        "<p><img src='a.png' title='Figure 1: Architecture' alt='Spark Connect'></p>",
        "x.html",
    )
    assert prose(doc) == ["See the DAG here.", "Spark Connect (Figure 1: Architecture)"]


def test_html_title_from_first_h1_without_title_tag() -> None:
    doc = parse("<h1>Heading</h1><p>Body</p><h2>Sub</h2><p>More</p>", "x.htm")
    assert doc.title == "Heading"
    assert [(b.text, b.headings) for b in doc.blocks] == [("Body", ()), ("More", ("Sub",))]


def test_html_malformed_markup_keeps_its_text() -> None:
    doc = parse(
        "<table><tr><td>a<table><tr><td>inner</td></tr></table></td><td>b</td></tr></table>"
        "<tr><td>stray</td></tr><p>x < y and <broken tag</p><pre>unclosed code",
        "bad.html",
    )
    assert [(b.text, b.code) for b in doc.blocks] == [
        ("a inner | b", False),  # a row stays on one line
        ("stray", False),
        ("x < y and <broken tag", False),
        ("```\nunclosed code\n```", True),
    ]


# ---------------------------------------------------------------------------- notebooks


def notebook(cells: list[dict[str, object]], language: str | None = "python") -> str:
    """A minimal nbformat-4 notebook."""
    metadata = {"kernelspec": {"language": language, "name": "k"}} if language else {}
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": metadata, "cells": cells})


def test_notebook_cells() -> None:
    text = notebook(
        [
            {
                "cell_type": "markdown",
                "metadata": {},
                "source": ["# Tracking Demo\n", "\n", "Intro."],
            },
            {
                "cell_type": "code",
                "metadata": {},
                "execution_count": 1,
                "source": "import mlflow\nmlflow.autolog()",
                "outputs": [
                    {"output_type": "stream", "name": "stdout", "text": ["SECRET OUTPUT\n"]}
                ],
            },
            {"cell_type": "markdown", "metadata": {}, "source": "## Train\n\nFit it."},
            {"cell_type": "code", "metadata": {}, "source": [], "outputs": []},
            {"cell_type": "raw", "metadata": {}, "source": "Raw note."},
        ],
        language="R",
    )
    doc = parse(text, "nb/demo.ipynb")
    assert doc.title == "Tracking Demo"
    assert doc.format == "ipynb"
    assert [(b.text, b.headings, b.code, b.cell) for b in doc.blocks] == [
        ("Intro.", (), False, 1),
        ("```r\nimport mlflow\nmlflow.autolog()\n```", (), True, 2),
        ("Fit it.", ("Train",), False, 3),
        ("Raw note.", ("Train",), False, 5),
    ]
    assert "SECRET" not in all_text(doc)


def test_notebook_defaults_to_python_and_filename_title() -> None:
    doc = parse(
        notebook([{"cell_type": "code", "source": "x = 1"}], language=None), "nb/my_demo.ipynb"
    )
    assert doc.title == "My Demo"
    assert code(doc) == ["```python\nx = 1\n```"]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"cells": [', "malformed notebook JSON"),
        ("[1, 2]", "not a Jupyter notebook"),
        ('{"metadata": {}}', "no 'cells' list"),
        ('{"cells": [42]}', "cell 1 is not an object"),
        ('{"cells": [{"cell_type": "code", "source": 5}]}', "cell 1 has no text source"),
    ],
)
def test_bad_notebooks(text: str, reason: str) -> None:
    with pytest.raises(SourceError, match=re.escape("nb.ipynb: ") + ".*" + re.escape(reason)):
        parse(text, "nb.ipynb")


# ---------------------------------------------------------------------------- PDF


def test_pdf_pages_paragraphs_and_metadata_title() -> None:
    data = make_pdf(
        [
            ["Delta Lake Charter", "This charter sets forth the rules", "of the project."],
            ["1.", "Mission of the Project", "It supports development."],
            ["Last page text", "3"],
        ],
        title="Delta Lake Charter",
    )
    doc = load_bytes(data, "pdf/charter.pdf")
    assert doc.title == "Delta Lake Charter"
    assert doc.format == "pdf"
    assert [(b.text, b.page) for b in doc.blocks] == [
        ("Delta Lake Charter\nThis charter sets forth the rules\nof the project.", 1),
        ("1. Mission of the Project\nIt supports development.", 2),
        ("Last page text", 3),
    ]


@pytest.mark.parametrize(
    "title", ["Title of Your Presentation Goes Here", "K1_Matei.v2", "report.pdf", ""]
)
def test_pdf_placeholder_titles_fall_back_to_the_filename(title: str) -> None:
    doc = load_bytes(make_pdf([["Some words here."]], title=title), "pdf/spark-summit-talk.pdf")
    assert doc.title == "Spark Summit Talk"


def test_a_pdf_set_in_columns_is_read_column_by_column_under_its_labels() -> None:
    # Drawn as a cheat sheet is: the code boxes first, their labels last.
    left = [
        "SELECT * FROM t VERSION AS OF 0",
        "SELECT * FROM t@v0 -- the same",
        "DESCRIBE HISTORY t",
    ]
    right = [
        "VACUUM t RETAIN 168 HOURS",
        "VACUUM t DRY RUN -- list only",
        "OPTIMIZE t ZORDER BY (a)",
    ]
    code = [(40, 680 - 14 * k, line) for k, line in enumerate(left)]
    code += [(330, 680 - 14 * k, line) for k, line in enumerate(right)]
    labels = [(40, 700, "Query an older version of a table"), (330, 700, "Remove old files")]
    doc = load_bytes(make_pdf([[*code, *labels]]), "cheat.pdf")
    text = "\n".join(b.text for b in doc.blocks)
    order = ["Query an older", *left, "Remove old files", *right]
    assert [text.index(line) for line in order] == sorted(text.index(line) for line in order)


def test_pdf_without_text_layer() -> None:
    with pytest.raises(SourceError, match=r"^scan\.pdf: PDF has no text layer"):
        load_bytes(make_pdf([[], []]), "scan.pdf")


def test_encrypted_pdf_is_refused() -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf([["Secret text"]]))))
    writer.encrypt("s3cret", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    with pytest.raises(SourceError, match=r"^locked\.pdf: encrypted PDF"):
        load_bytes(buffer.getvalue(), "locked.pdf")


def test_pdf_encrypted_with_empty_user_password_opens() -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf([["Readable text."]]))))
    writer.encrypt("", owner_password="owner", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    assert load_bytes(buffer.getvalue(), "open.pdf").blocks[0].text == "Readable text."


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"This is plain text, not a PDF.", "not a PDF file"),
        (b"%PDF-1.4\n" + bytes(range(256)) * 4, "corrupt PDF"),
        (make_pdf([["Fine text."]])[:200], "PDF"),
    ],
)
def test_bad_pdfs(data: bytes, reason: str) -> None:
    with pytest.raises(SourceError, match=r"^bad\.pdf: .*" + reason):
        load_bytes(data, "bad.pdf")


# ---------------------------------------------------------------------------- bad input and decoding


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"   \n\n\t \n", "no text"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8, "binary content"),
        (b"# Title\n\nText with a NUL \x00 byte.\n", "binary content"),
        (bytes(range(1, 32)) * 50 + b"text", "binary content"),
        ("日本語のテキストです。".encode("shift_jis") * 10, "not UTF-8 text; re-save as UTF-8"),
        (b"---\ntitle: x\n---\n<!-- only a comment -->\n", "no text found"),
    ],
)
def test_bad_text_files(data: bytes, reason: str) -> None:
    with pytest.raises(SourceError, match=r"^docs/bad\.md: .*" + re.escape(reason)) as info:
        load_bytes(data, "docs/bad.md")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("Café au lait — naïve résumé\n".encode("cp1252"), "Café au lait — naïve résumé"),
        ("Ångström über\n".encode("latin-1"), "Ångström über"),
        ("# Título\n\nUTF-16 text ✓\n".encode("utf-16"), "UTF-16 text ✓"),
        ("\ufeff# Title\n\nWith BOM.\n".encode(), "With BOM."),
        ("Text\n".encode("utf-32"), "Text"),
    ],
)
def test_encodings(data: bytes, expected: str) -> None:
    doc = load_bytes(data, "enc.md")
    assert doc.blocks[-1].text == expected
    assert "\ufeff" not in doc.title


def test_unexpected_parser_errors_become_source_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    import ingest.loaders as loaders

    def boom(text: str, source: str) -> Document:
        raise RecursionError("maximum recursion depth\nexceeded")

    monkeypatch.setitem(loaders._PARSERS, "md", boom)
    with pytest.raises(
        SourceError,
        match=r"^x\.md: cannot parse as md \(RecursionError: maximum recursion depth exceeded\)$",
    ):
        load_bytes(b"text", "x.md")


def test_unsupported_format() -> None:
    with pytest.raises(SourceError, match=r"^data\.csv: unsupported format '\.csv'"):
        load_bytes(b"a,b\n", "data.csv")
    with pytest.raises(SourceError, match=r"unsupported format 'docx'"):
        load_bytes(b"a", "a.md", fmt="docx")


def test_supported_suffixes() -> None:
    assert {
        ".md",
        ".mdx",
        ".markdown",
        ".rst",
        ".txt",
        ".html",
        ".htm",
        ".ipynb",
        ".pdf",
    } == SUPPORTED_SUFFIXES


def test_load_file_reads_and_limits_size(tmp_path: Path) -> None:
    path = tmp_path / "guide.markdown"
    path.write_bytes(b"# Guide\n\nHello.\n")
    doc = load_file(path, "docs/guide.markdown", max_bytes=100)
    assert (doc.source, doc.title, doc.format) == ("docs/guide.markdown", "Guide", "md")
    with pytest.raises(
        SourceError, match=r"^docs/guide\.markdown: file is 16 bytes, over the 10-byte limit"
    ):
        load_file(path, "docs/guide.markdown", max_bytes=10)
    with pytest.raises(SourceError, match=r"^docs/missing\.md: cannot read file"):
        load_file(tmp_path / "missing.md", "docs/missing.md", max_bytes=100)


def test_binary_file_with_markdown_extension(tmp_path: Path) -> None:
    path = tmp_path / "image.md"
    path.write_bytes(bytes(range(256)) * 16)
    with pytest.raises(SourceError, match=r"^image\.md: binary content"):
        load_file(path, "image.md", max_bytes=1 << 20)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.one_of(
        st.binary(max_size=400),
        st.text(
            alphabet=st.sampled_from(list("<>{}[]()`*#-=:|/!\"'\\ \n\tax1.%_~&;")), max_size=400
        ).map(str.encode),
    ),
    suffix=st.sampled_from(sorted(SUPPORTED_SUFFIXES)),
)
def test_fuzz_only_source_errors_escape(data: bytes, suffix: str) -> None:
    try:
        doc = load_bytes(data, f"fuzz{suffix}")
    except SourceError as exc:
        assert str(exc).startswith(f"fuzz{suffix}: ")
        assert "\n" not in str(exc)
    else:
        assert doc.title and doc.blocks
        assert all(b.text.strip() for b in doc.blocks)


N = 100_000

# An ordinary page of each format: the yardstick that hostile input of the same size is held to.
ORDINARY = {
    ".md": "# Guide\n\n## Section\n\nSet [`spark.sql.x`](conf.html) to *true*, see <b>docs</b>.\n\n"
    "- one `a`\n- two [link](x)\n\n| k | v |\n|---|---|\n| a | 1 |\n\n```python\nx = 1\n```\n\n",
    ".mdx": '## Section\n\n<Tabs>\n  <TabItem value="py">\n    Set [`x`](conf) to **true**.\n\n'
    "    ```python\n    x = 1\n    ```\n  </TabItem>\n</Tabs>\n\n- one `a`\n- two [link](x)\n\n",
    ".rst": "Section\n=======\n\nUse :func:`read <x.read>` and ``load``, see `site <https://x>`_.\n\n"
    ".. code-block:: python\n\n   x = 1\n\n",
    ".html": "<h2>Section</h2><p>Set <a href='c'><code>x</code></a> to <b>true</b>.</p>"
    "<ul><li>one</li></ul><table><tr><td>a</td><td>1</td></tr></table><pre>x = 1</pre>\n",
}


@cache
def ordinary_seconds_per_char(suffix: str) -> float:
    """How long an ordinary page of a format takes to parse, per character, here and now."""
    text = ORDINARY[suffix] * (200_000 // len(ORDINARY[suffix]))
    start = time.perf_counter()
    load_bytes(text.encode(), f"ordinary{suffix}")
    return (time.perf_counter() - start) / len(text)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("word " * N, id="long-line"),
        pytest.param("# x" + " " * N + "x", id="spaces-in-heading"),
        pytest.param(
            "".join(f"{'#' * (i % 6 + 1)} h{i}\n\nt{i}\n\n" for i in range(N // 10)), id="headings"
        ),
        pytest.param("".join("  " * i + "- item\n" for i in range(2000)), id="nested-lists"),
        pytest.param("<a " * N, id="open-tags"),
        pytest.param("<A {" * N, id="open-braces"),
        pytest.param("[a](" * N, id="open-links"),
        pytest.param(
            "".join("`" * (i % 40 + 1) + " x " for i in range(N // 10)), id="backtick-runs"
        ),
        pytest.param("{% " * N + "{{ " * N + "{/*" * N, id="open-liquid"),
        pytest.param("<!--" * N, id="open-comments"),
        pytest.param("import {\n" * (N // 10), id="open-imports"),
        pytest.param(":a:" * N, id="colons"),
    ],
)
@pytest.mark.parametrize("suffix", [".md", ".mdx", ".rst", ".html"])
def test_pathological_input_is_fast(text: str, suffix: str) -> None:
    # Linear, not quadratic: within 5 s, or within 5 times what an ordinary page of the same
    # length takes on this machine now (markdown-it-py alone needs seconds for 400 KB of
    # "[a](", and the CPU is shared); 100,000 repetitions read quadratically take hours.
    budget = max(5.0, 5 * len(text) * ordinary_seconds_per_char(suffix))
    start = time.perf_counter()
    with contextlib.suppress(SourceError):
        load_bytes(text.encode(), f"p{suffix}")
    assert time.perf_counter() - start < budget


# ---------------------------------------------------------------------------- the shared corpus

CORPUS_FILES = (
    sorted(
        p.relative_to(CORPUS).as_posix()
        for p in CORPUS.rglob("*")
        if p.suffix in {".md", ".mdx", ".pdf"}
    )
    if CORPUS.is_dir()
    else ["<corpus missing>"]
)


@cache
def corpus_doc(rel: str) -> Document:
    """A corpus file parsed once per session."""
    return load_file(CORPUS / rel, rel, max_bytes=50_000_000)


@pytest.mark.parametrize("rel", CORPUS_FILES)
def test_every_corpus_file_loads(shared_corpus: Path, rel: str) -> None:
    doc = corpus_doc(rel)
    assert doc.title.strip()
    assert doc.blocks
    for block in doc.blocks:
        assert block.text.strip()
        assert "{%" not in block.text
        assert "<TabItem" not in block.text
        if doc.format == "mdx" and not block.code:
            assert not any(
                line.startswith(("import ", "export ")) for line in block.text.split("\n")
            )
            assert ":::" not in block.text


def test_spark_streaming_guide(shared_corpus: Path) -> None:
    doc = corpus_doc("spark/docs/streaming/getting-started.md")
    assert doc.title == "Structured Streaming Programming Guide"
    first = doc.blocks[0]
    assert first.headings == ("Quick Example",)
    assert first.text.startswith("Let’s say you want to maintain a running word count")
    assert "{{site" not in all_text(doc)
    assert find(doc, "from pyspark.sql import SparkSession").text.startswith("```python\n")
    assert find(doc, "# TERMINAL 1:").code
    assert any(b.headings[:1] == ("Programming Model",) for b in doc.blocks)


def test_spark_highlight_and_config_tables(shared_corpus: Path) -> None:
    doc = corpus_doc("spark/docs/configuration.md")
    assert doc.title == "Spark Configuration"
    block = find(doc, "val conf = new SparkConf()")
    assert block.code and block.text.startswith("```scala\n") and block.text.endswith("\n```")
    row = find(doc, "`spark.app.name` | (none) |")
    assert row.headings == ("Spark Properties", "Available Properties", "Application Properties")
    assert row.text.startswith("Property Name | Default | Meaning | Since Version\n")
    assert "table of contents" not in all_text(doc)


def test_spark_option_rows_with_lists_and_breaks_keep_their_name(shared_corpus: Path) -> None:
    csv = corpus_doc("spark/docs/sql-data-sources-csv.md")
    rows = [line for b in csv.blocks for line in b.text.split("\n") if line.startswith("`mode` |")]
    assert len(rows) > 1 and all(row.startswith("`mode` | PERMISSIVE | ") for row in rows)
    assert any("`FAILFAST`: throws an exception" in row for row in rows)
    jdbc = corpus_doc("spark/docs/sql-data-sources-jdbc.md")
    block = find(jdbc, "`partitionColumn, lowerBound, upperBound` |")
    assert block.text.startswith("Property Name | Default | Meaning | Scope\n")
    assert not any(line.startswith("Example:") for line in block.text.split("\n"))


def test_spark_include_examples_are_dropped(shared_corpus: Path) -> None:
    doc = corpus_doc("spark/docs/ml-pipeline.md")
    assert "include_example" not in all_text(doc)
    assert doc.title == "ML Pipelines"


def test_delta_batch_mdx(shared_corpus: Path) -> None:
    doc = corpus_doc("delta/docs/delta-batch.mdx")
    assert doc.title == "Table batch reads and writes"
    assert doc.format == "mdx"
    assert doc.blocks[0].text.startswith("Delta Lake supports most of the options")
    ddl = find(doc, "CREATE TABLE IF NOT EXISTS default.people10m")
    assert ddl.code and ddl.text.startswith("```sql\n") and ddl.headings == ("Create a table",)
    assert "SQL also supports creating a table at a path" in find(doc, "SQL also supports").text
    assert not any("@astrojs" in b.text for b in doc.blocks)
    assert not any("<Tabs" in t or "<Aside" in t for t in prose(doc))


def test_mlflow_mdx_with_imports_tabs_and_apilinks(shared_corpus: Path) -> None:
    doc = corpus_doc("mlflow/docs/docs/classic-ml/tracking/tracking-api/index.mdx")
    assert doc.title == "MLflow Tracking APIs"
    assert not any(h == "MLflow Tracking APIs" for b in doc.blocks for h in b.headings)
    row = find(doc, "| `mlflow.set_tracking_uri` | Connect to tracking server")
    assert row.headings == ("Core Logging Functions", "Setup & Configuration")
    java = find(doc, "MlflowClient client = new MlflowClient();")
    assert java.code and java.text.startswith("```java\n")
    assert not any("@theme" in b.text or "<APILink" in b.text for b in doc.blocks)


def test_mlflow_quickstart_admonitions(shared_corpus: Path) -> None:
    doc = corpus_doc("mlflow/docs/docs/classic-ml/tracking/quickstart/index.mdx")
    assert doc.title == "MLflow Tracking Quickstart"
    assert find(doc, "For a more in-depth and tutorial-based approach").headings == ()
    install = find(doc, "pip install mlflow")
    assert install.code and install.headings == ("Step 1 - Get MLflow", "Installing Stable Release")


@pytest.mark.parametrize(
    ("rel", "title", "pages"),
    [
        ("pdf/delta-io_delta/delta-charter.pdf", "Delta Charter", 6),
        (
            "pdf/delta-io_delta/examples/cheat_sheet/delta_lake_cheat_sheet.pdf",
            "Delta Lake Cheatsheet",
            2,
        ),
        ("pdf/huangyibo_spark-summit-17/crail-spark-summit.pdf", "Crail Spark Summit", 30),
        (
            "pdf/huangyibo_spark-summit-17/k1mateizaharia-170209192348.pdf",
            "K1mateizaharia 170209192348",
            30,
        ),
    ],
)
def test_corpus_pdfs(shared_corpus: Path, rel: str, title: str, pages: int) -> None:
    doc = corpus_doc(rel)
    assert doc.title == title
    assert doc.format == "pdf"
    numbers = [b.page for b in doc.blocks]
    assert all(isinstance(n, int) and 1 <= n <= pages for n in numbers)
    assert numbers == sorted(numbers, key=lambda n: n or 0)
    assert numbers[0] == 1
    assert all(b.text.strip() and not b.code and b.headings == () for b in doc.blocks)
    assert len(all_text(doc)) > 2000
