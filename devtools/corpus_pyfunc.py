"""The real-model corpus's pyfunc model (devtools/model_corpus.py): ordinary code, pandas and numpy calls."""
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
