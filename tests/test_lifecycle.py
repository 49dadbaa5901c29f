"""An API entry's life cycle read from its source: since, deprecated and the replacement, in the
forms PySpark, MLflow and Python's own deprecation helpers write them."""

from __future__ import annotations

import textwrap

import pytest

from ingest.apiref import parse_module
from ingest.lifecycle import replacement

Life = tuple[str | None, str | None, str | None]  # since, deprecated, deprecated_use


def lives(source: str) -> dict[str, Life]:
    """Each entry's (since, deprecated, deprecated_use), checked equal on all its blocks."""
    doc = parse_module("pkg/mod.py", textwrap.dedent(source).encode())
    found: dict[str, Life] = {}
    for block in doc.blocks:
        assert block.symbol
        life = (block.since, block.deprecated, block.deprecated_use)
        assert found.setdefault(block.symbol, life) == life, block.symbol
    return found


def life(source: str, symbol: str = "pkg.mod.f") -> Life:
    return lives(source)[symbol]


DOCSTRINGS = {
    "pyspark's directive": (
        '''
        def f(col):
            """Converts an angle to degrees.

            .. versionadded:: 1.4.0

            .. deprecated:: 2.1.0
                Use :func:`degrees` instead.
            """
        ''',
        ("1.4.0", "2.1.0", "degrees"),
    ),
    "a directive with a product before the version": (
        '''
        def f():
            """Streams.

            .. deprecated:: Spark 3.4.0
               This is deprecated as of Spark 3.4.0. Migrate to Structured Streaming.
            """
        ''',
        (None, "3.4.0", None),
    ),
    "a directive naming two replacements": (
        '''
        def f():
            """Train with SGD.

            .. deprecated:: 2.0.0
                Use ml.classification.LogisticRegression or LogisticRegressionWithLBFGS.
            """
        ''',
        (None, "2.0.0", "ml.classification.LogisticRegression or LogisticRegressionWithLBFGS"),
    ),
    "a directive with no text": (
        '''
        def f():
            """Swap axes.

            .. deprecated:: 4.0.0

            Parameters
            ----------
            """
        ''',
        (None, "4.0.0", None),
    ),
    "a paragraph opening 'Deprecated since'": (
        '''
        def f():
            """Old loader.

            Deprecated since 1.2: the loader was
            replaced by ``pkg.load``.
            """
        ''',
        (None, "1.2", "pkg.load"),
    ),
    "MLflow's one-line 'Deprecated.'": (
        '''
        def f():
            """Deprecated. Use `trace_id` instead."""
        ''',
        (None, "yes", "trace_id"),
    ),
    "a parameter's directive deprecates the parameter, not the function": (
        '''
        def f(value):
            """Contains.

            Parameters
            ----------
            value
                a literal value, or a :class:`Column` expression.

                .. deprecated:: 3.0.0
                    :class:`Column` as a parameter is deprecated.
            """
        ''',
        (None, None, None),
    ),
    "a docstring that only mentions the word": (
        '''
        def f(df):
            """Drops deprecated columns.

            Deprecated columns are those a schema marks with `deprecated=True`; use
            `keep` to keep some.
            """
            warnings.warn("This is slow on large tables", UserWarning)
        ''',
        (None, None, None),
    ),
}


@pytest.mark.parametrize("source, expected", DOCSTRINGS.values(), ids=DOCSTRINGS.keys())
def test_docstrings(source: str, expected: Life) -> None:
    assert life(source) == expected


DECORATORS = {
    "MLflow's keywords": (
        '@deprecated(since="2.9.0", alternative="mlflow.MlflowClient.search_model_versions")\n'
        "def f(): ...\n",
        (None, "2.9.0", "mlflow.MlflowClient.search_model_versions"),
    ),
    "MLflow's positional (alternative, since)": (
        '@deprecated("mlflow.pyfunc.load_model", 1.0)\ndef f(): ...\n',
        (None, "1.0", "mlflow.pyfunc.load_model"),
    ),
    "MLflow's alternative alone, on a module attribute": (
        '@annotations.deprecated(alternative="mlflow.entities.TraceState")\ndef f(): ...\n',
        (None, "yes", "mlflow.entities.TraceState"),
    ),
    "PEP 702's message": (
        '@deprecated("Use new_api() instead; f goes in 3.0")\ndef f(): ...\n',
        (None, "yes", "new_api()"),
    ),
    "the Deprecated package's version and reason": (
        '@deprecated(version="1.2.1", reason="You should use another_function")\ndef f(): ...\n',
        (None, "1.2.1", "another_function"),
    ),
    "an instead= argument": (
        '@deprecated(instead="pkg.g")\ndef f(): ...\n',
        (None, "yes", "pkg.g"),
    ),
    "bare": ("@deprecated\ndef f(): ...\n", (None, "yes", None)),
    "since": ('@since("1.6")\ndef f(): ...\n', ("1.6", None, None)),
    "arguments that are names say nothing": (
        "@deprecated(alternative=NEW, since=VERSION, impact=MESSAGE)\ndef f(): ...\n",
        (None, "yes", None),
    ),
}


@pytest.mark.parametrize("source, expected", DECORATORS.values(), ids=DECORATORS.keys())
def test_decorators(source: str, expected: Life) -> None:
    assert life(source) == expected


WARNINGS = {
    "PySpark's FutureWarning": (
        "def f(col):\n"
        '    warnings.warn("Deprecated in 3.2, use sum_distinct instead.", FutureWarning)\n'
        "    return sum_distinct(col)\n",
        (None, "3.2", "sum_distinct"),
    ),
    "category= and joined literals": (
        "def f():\n"
        "    from warnings import warn\n"
        '    warn("createExternalTable is deprecated since Spark 2.2, "\n'
        '         + "please use createTable instead.", category=DeprecationWarning)\n',
        (None, "2.2", "createTable"),
    ),
    "in favor of, inside a with block": (
        "def f():\n"
        "    with lock:\n"
        '        warnings.warn("f is deprecated in favor of `g`.", DeprecationWarning)\n',
        (None, "yes", "g"),
    ),
    "an f-string": (
        "def f(self):\n"
        '    warnings.warn(f"{type(self).__name__}.f is now deprecated.", FutureWarning)\n',
        (None, "yes", None),
    ),
    "a message built at run time": (
        "def f():\n"
        '    warnings.warn(MOVED.format(name="f"), category=FutureWarning, stacklevel=3)\n',
        (None, "yes", None),
    ),
    "only under a condition (an argument's deprecation)": (
        "def f(dbName=None):\n"
        "    if dbName is not None:\n"
        '        warnings.warn("`dbName` has been deprecated since Spark 3.4.", FutureWarning)\n',
        (None, None, None),
    ),
    "only in a nested function": (
        "def f():\n"
        "    def inner():\n"
        '        warnings.warn("inner is deprecated", DeprecationWarning)\n'
        "    return inner\n",
        (None, None, None),
    ),
    "a FutureWarning announcing a change": (
        "def f():\n"
        '    warnings.warn("`day` will return int32 index instead of int 64 index in 4.0.0.", '
        "FutureWarning)\n",
        (None, None, None),
    ),
    "about an argument": (
        "def f(na_sentinel=-1):\n"
        '    warnings.warn("Argument `na_sentinel` will be removed in 4.0.0.", FutureWarning)\n',
        (None, None, None),
    ),
    "another category": (
        'def f():\n    warnings.warn("f is deprecated", UserWarning)\n',
        (None, None, None),
    ),
}


@pytest.mark.parametrize("source, expected", WARNINGS.values(), ids=WARNINGS.keys())
def test_warnings_every_call_raises(source: str, expected: Life) -> None:
    assert life(source) == expected


def test_a_message_of_thousands_of_joined_literals_is_read_without_recursion() -> None:
    joined = " + ".join(['"f is deprecated "'] * 2000)
    assert life(f"def f():\n    warnings.warn({joined}, DeprecationWarning)\n") == (
        None,
        "yes",
        None,
    )


def test_a_deprecated_class_and_its_members() -> None:
    found = lives(
        '''
        class HiveContext:
            """A variant of Spark SQL that integrates with Hive."""

            def __init__(self, session):
                warnings.warn(
                    "HiveContext is deprecated in Spark 2.0.0. Please use "
                    + "SparkSession.builder.enableHiveSupport().getOrCreate() instead.",
                    FutureWarning,
                )

            def sql(self, query):
                """Run a query."""


        @deprecated(since="3.0.0", alternative="mlflow.entities.Assessment")
        class Assessment:
            """Assessment data."""

            @deprecated(since="2.5.0", alternative="Assessment.value")
            def score(self):
                """The score."""

            def to_dict(self):
                """As a dict."""


        class Fresh:
            """Not deprecated."""

            def run(self):
                """Runs."""
        '''
    )
    assert found["pkg.mod.HiveContext"] == (
        None,
        "2.0.0",
        "SparkSession.builder.enableHiveSupport().getOrCreate()",
    )
    # A member of a deprecated class goes with it, unless its own source says otherwise.
    assert found["pkg.mod.HiveContext.sql"] == found["pkg.mod.HiveContext"]
    assert found["pkg.mod.Assessment"] == (None, "3.0.0", "mlflow.entities.Assessment")
    assert found["pkg.mod.Assessment.to_dict"] == found["pkg.mod.Assessment"]
    assert found["pkg.mod.Assessment.score"] == (None, "2.5.0", "Assessment.value")
    assert found["pkg.mod.Fresh.run"] == (None, None, None)


def test_sources_agree_and_fill_each_other() -> None:
    source = '''
    @deprecated(alternative="pkg.g")
    def f():
        """Old.

        .. versionadded:: 1.0
        .. deprecated:: 2.0
        """
        warnings.warn("Deprecated in 2, use h instead.", FutureWarning)
    '''
    assert life(source) == ("1.0", "2.0", "pkg.g")


def test_the_decorator_note_reads_mlflows_positional_form() -> None:
    doc = parse_module(
        "pkg/mod.py", b'@deprecated("mlflow.pyfunc.load_model", 1.0)\ndef f():\n    """Load."""\n'
    )
    assert (
        doc.blocks[1].text == "Deprecated since version 1.0: use mlflow.pyfunc.load_model instead."
    )


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "Use :meth:`DataFrame.createOrReplaceTempView` instead.",
            "DataFrame.createOrReplaceTempView",
        ),
        ("Deprecated in 2.0, use createOrReplaceTempView instead.", "createOrReplaceTempView"),
        (
            "Use ``mlflow.genai.evaluate`` or ``mlflow.evaluate``.",
            "mlflow.genai.evaluate or mlflow.evaluate",
        ),
        ("It was replaced with `pkg.new` in 2.0.", "pkg.new"),
        ("Deprecated. Use UnivariateFeatureSelector", "UnivariateFeatureSelector"),
        ("Use degrees instead.", "degrees"),
        # English after "use" is not a name.
        ("Use secrets-based environment variables (see the docs) instead.", None),
        ("Please use it instead.", None),
        ("The use of this function is discouraged.", None),
        ("Migrate to Structured Streaming.", None),
    ],
)
def test_replacement(text: str, expected: str | None) -> None:
    assert replacement(text) == expected
