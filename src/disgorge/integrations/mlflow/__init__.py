"""MLflow feeds the catalog (extra ``disgorge[mlflow]``): a dataset source that names an exact dataset
version, a tracking-store plugin (``disgorge+<uri>``) that refuses runs the policy does not allow and
records every run, input and logged model, and an importer for existing histories. See docs/capture.md."""

from disgorge.integrations.mlflow.dataset import DisgorgeDataset, DisgorgeDatasetSource, disgorge_dataset

__all__ = ["DisgorgeDataset", "DisgorgeDatasetSource", "disgorge_dataset"]
