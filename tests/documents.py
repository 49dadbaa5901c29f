"""Documents written by hand for tests: a team note, small valid PDFs (no binaries in git), and
Databricks notebooks in their source format."""

from __future__ import annotations

RETENTION = """# Bronze retention

Bronze tables keep 30 days of history; VACUUM runs nightly with the default retention.
"""


def make_pdf(pages: list[list[str | tuple[int, int, str]]], title: str | None = None) -> bytes:
    """A small valid PDF with one text line per entry, written by hand (no binaries in git); an
    (x, y, text) entry is drawn at that place, after the flowing lines."""
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [{}] /Count {} >>".format(
            " ".join(f"{4 + 2 * i} 0 R" for i in range(len(pages))), len(pages)
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i, lines in enumerate(pages):
        ops = ["BT", "/F1 12 Tf", "72 720 Td", "16 TL"]
        placed = []
        for line in lines:
            text = line[2] if isinstance(line, tuple) else line
            escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            if isinstance(line, tuple):
                placed.append(f"BT /F1 10 Tf {line[0]} {line[1]} Td ({escaped}) Tj ET")
            else:
                ops.append(f"({escaped}) Tj T*")
        flowing = [*ops, "ET"] if len(ops) > 4 or not placed else []
        stream = "\n".join([*flowing, *placed])
        objects.append(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>"
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
    if title is not None:
        objects.append(f"<< /Title ({title}) >>")
    out = "%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n"
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets)
    info = f" /Info {len(objects)} 0 R" if title is not None else ""
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R{info} >>\nstartxref\n{xref}\n%%EOF\n"
    return out.encode("latin-1")


def databricks_notebook(*cells: str, prefix: str = "#") -> str:
    """A notebook as Databricks exports it as "Source file": the header line, then the cells
    between COMMAND lines, all with the language's comment prefix. A cell's lines that start
    with "MAGIC" get the prefix too (write "MAGIC %md", "MAGIC text")."""

    def prefixed(cell: str) -> str:
        lines = cell.strip("\n").split("\n")
        return "\n".join(f"{prefix} {line}" if line.startswith("MAGIC") else line for line in lines)

    separator = f"\n\n{prefix} COMMAND ----------\n\n"
    return f"{prefix} Databricks notebook source\n" + separator.join(map(prefixed, cells)) + "\n"


# A Python notebook with a cell of every kind (cell numbers as Databricks shows them).
ETL_NOTEBOOK = databricks_notebook(
    """
MAGIC %md
MAGIC # Nightly events load
MAGIC
MAGIC Loads the raw events into `bronze.events` with the zuluword schema.
MAGIC
MAGIC - reads JSON from the landing zone
MAGIC - writes Delta, partitioned by day
""",
    'MAGIC %run ./setup $env="dev"',
    """
# DBTITLE 1,Read the landing zone
raw = spark.read.json("/mnt/landing/events")
display(raw)
""",
    """
MAGIC %md
MAGIC ## Checks
MAGIC
MAGIC The counts must match before the table is published:
MAGIC
MAGIC ```sql
MAGIC SELECT count(*) FROM landing.events
MAGIC ```
""",
    "MAGIC %sql\nMAGIC SELECT count(*) AS rows FROM bronze.events",
    "MAGIC %python\nMAGIC assert raw.count() > 0",
    "MAGIC %sh\nMAGIC ls -l /dbfs/mnt/landing",
    'MAGIC %scala\nMAGIC val n = spark.table("bronze.events").count()',
    "MAGIC %r\nMAGIC library(SparkR)",
    "MAGIC %pip install great-expectations",
    "",
)
SQL_NOTEBOOK = databricks_notebook(
    "MAGIC %md\nMAGIC # Gold rollup\nMAGIC Daily totals per country.",
    "CREATE OR REPLACE TABLE gold.daily AS\n"
    "SELECT day, country, sum(amount) AS total\n"
    "FROM silver.orders\n"
    "GROUP BY day, country",
    prefix="--",
)
SCALA_NOTEBOOK = databricks_notebook(
    "MAGIC %md\nMAGIC Streams the clicks into silver.",
    'val clicks = spark.readStream.table("bronze.clicks")',
    prefix="//",
)
# A cell's MAGIC prefixes lost on some lines (a hand edit): refused whole, with the fix.
MIXED_NOTEBOOK = databricks_notebook(
    "MAGIC %md\nMAGIC # Broken",
    "MAGIC %md\nMAGIC Half of this cell\nlost its MAGIC prefix.",
)
