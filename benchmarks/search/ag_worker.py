"""AutoGluon-Tabular worker for bench.py, run by the Python of AutoGluon's own virtual environment.

AutoGluon needs pandas < 2.4 (the project pins pandas 3), so it lives in a separate venv and
this file imports nothing from the project: it reads the task's train/test CSV files, fits
TabularPredictor with the default preset and the given time limit, and writes the test
predictions (class probabilities, one column per class label, or values) as CSV.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile

import pandas as pd


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--train", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--label", required=True)
    p.add_argument("--kind", required=True, choices=["binary", "multiclass", "regression"])
    p.add_argument("--metric", required=True)
    p.add_argument("--budget", type=float, required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args()

    from autogluon.tabular import TabularPredictor

    dtype = {args.label: str} if args.kind != "regression" else None
    train = pd.read_csv(args.train, dtype=dtype)
    test = pd.read_csv(args.test, dtype=dtype)
    path = tempfile.mkdtemp(prefix="ag-bench-")
    try:
        predictor = TabularPredictor(
            label=args.label, problem_type=args.kind, eval_metric=args.metric, path=path, verbosity=0
        )
        predictor.fit(train, time_limit=args.budget)  # the default preset (medium_quality)
        features = test.drop(columns=[args.label])
        if args.kind == "regression":
            out = pd.DataFrame({"prediction": predictor.predict(features).to_numpy()})
        else:
            out = predictor.predict_proba(features)
            out.columns = [str(c) for c in out.columns]
        out.to_csv(args.out, index=False)
    finally:
        shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
