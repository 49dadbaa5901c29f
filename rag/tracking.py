"""Log an evaluation run to MLflow, as a Databricks team tracks its evaluations."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from rag.errors import LakesageError
from rag.settings import Settings

EXPERIMENT = "lakesage-eval"
SECRET_FIELDS = {"llm_api_key", "databricks_token", "admin_password", "mcp_token"}


def log_to_mlflow(
    settings: Settings, figures: dict[str, Any], rows: list[dict[str, Any]], tracking_uri: str = ""
) -> str:
    """Settings as params, figures as metrics, the per-question table as an artifact; the run id."""
    try:
        import mlflow
    except ImportError as exc:
        raise LakesageError("MLflow is not installed; pip install mlflow-skinny") from exc
    uri = tracking_uri or f"sqlite:///{(settings.home / 'mlflow.db').resolve()}"
    mlflow.set_tracking_uri(uri)
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        # Artifacts beside the database, not in whatever folder the command ran from.
        mlflow.create_experiment(
            EXPERIMENT, artifact_location=(settings.home / "mlartifacts").resolve().as_uri()
        )
    mlflow.set_experiment(EXPERIMENT)
    params = {
        key: str(value)
        for key, value in settings.model_dump().items()
        if key not in SECRET_FIELDS and value is not None
    }
    with mlflow.start_run() as run:
        mlflow.log_params(params)
        mlflow.log_metrics(
            {
                k.replace("@", "_at_"): float(v)
                for k, v in figures.items()
                if isinstance(v, (int, float))
            }
        )
        with tempfile.TemporaryDirectory() as tmp:
            table = Path(tmp) / "questions.json"
            table.write_text(json.dumps(rows, indent=1))
            mlflow.log_artifact(str(table))
        return str(run.info.run_id)
