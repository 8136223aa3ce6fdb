"""The real-model corpus's pyfunc model (devtools/model_corpus.py): ordinary code, pandas and numpy calls.

Its code is carried by value, so the scanner reads what it calls (releases/artifact_scan/pyfunc_code.py):
the builtins, numpy and pandas functions here are the allowlist's `pyfunc` code entries."""
import mlflow.pyfunc
import numpy as np
import pandas as pd


class Scorer(mlflow.pyfunc.PythonModel):
    """Scores rows: a weighted sum squashed to (0, 1), with a label column."""

    weights = (0.4, 0.3, 0.2, 0.1)

    def predict(self, context, model_input, params=None):
        frame = pd.DataFrame(model_input)
        score = 1 / (1 + np.exp(-(frame.to_numpy(dtype=float) @ np.array(self.weights))))
        return pd.DataFrame({"score": score, "label": np.where(score > 0.5, "yes", "no")})

    def explain(self, rows):
        """Per-row weighted terms, rounded: ordinary builtins over arrays and frames."""
        if not isinstance(rows, (list, tuple)) or len(rows) == 0:
            raise ValueError("rows: a non-empty list")
        values = np.clip(np.asarray(rows, dtype=float), 0, None)
        terms = [[round(abs(w * v), 3) for w, v in zip(self.weights, row, strict=False)] for row in values]
        totals = pd.Series([sum(t) for t in terms])
        ranked = sorted(enumerate(totals), key=lambda item: item[1])
        return pd.concat([totals, pd.Series(np.zeros(len(terms)))], axis=1), min(totals), max(totals), ranked
