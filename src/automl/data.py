"""Reading tabular data (CSV, Parquet) from any location, and checking it against the spec.

Every problem a user can cause with their data ends here as a :class:`DataError` whose
message names the file, the column and what to do.
"""

from __future__ import annotations

import difflib
import io

import numpy as np
import pandas as pd

from automl import storage
from automl.errors import DataError, StorageError
from automl.spec import AutoMLJobSpec, Task

MIN_ROWS = 10


def _format(uri: str) -> str:
    lower = uri.lower().split("?")[0]
    if lower.endswith((".parquet", ".pq")):
        return "parquet"
    if lower.endswith((".csv", ".csv.gz", ".txt", ".tsv")):
        return "csv"
    raise DataError(f"{uri}: unknown file type; name the file .csv or .parquet")


def read_table(uri: str, what: str = "data") -> pd.DataFrame:
    """Read a CSV or Parquet file from a path, file:// or s3:// URI."""
    kind = _format(uri)
    local = storage.storage_for(uri).local_path(uri)
    try:
        source: str | io.BytesIO = local if local else io.BytesIO(storage.read_bytes(uri))
        if local is not None and not storage.exists(uri):
            raise StorageError(f"{uri}: no such file")
        if kind == "parquet":
            frame = pd.read_parquet(source)
        else:
            sep = "\t" if uri.lower().endswith(".tsv") else ","
            frame = pd.read_csv(source, sep=sep, low_memory=False)
    except StorageError as err:
        raise DataError(f"{what}: {err}") from err
    except IsADirectoryError as err:
        raise DataError(f"{what}: {uri} is a directory, expected a file") from err
    except pd.errors.EmptyDataError as err:
        raise DataError(f"{what}: {uri} is empty") from err
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"{what}: cannot read {uri} as {kind}: {first}") from err
    frame.columns = [str(c) for c in frame.columns]
    return frame


def _missing_label_message(frame: pd.DataFrame, label: str, uri: str) -> str:
    columns = list(frame.columns)
    close = difflib.get_close_matches(label, columns, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    shown = ", ".join(repr(c) for c in columns[:12]) + (" ..." if len(columns) > 12 else "")
    return f"{uri}: label column {label!r} not found (columns: {shown}){hint}"


def split_label(frame: pd.DataFrame, spec: AutoMLJobSpec, uri: str) -> tuple[pd.DataFrame, pd.Series]:
    """Check the training data can train this task, and separate features and label."""
    label = spec.data.label
    if frame.empty or len(frame.columns) == 0:
        raise DataError(f"{uri}: the data has no rows")
    if label not in frame.columns:
        raise DataError(_missing_label_message(frame, label, uri))
    if frame.columns.duplicated().any():
        dupes = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise DataError(f"{uri}: duplicate column names {dupes}; rename them")
    target = frame[label]
    if target.isna().all():
        raise DataError(f"{uri}: label column {label!r} has no values (all missing)")
    keep = target.notna().to_numpy()
    frame = frame.loc[keep].reset_index(drop=True)
    target = frame.pop(label)
    if len(frame.columns) == 0:
        raise DataError(f"{uri}: there are no feature columns besides the label {label!r}")
    if len(frame) < MIN_ROWS:
        raise DataError(f"{uri}: only {len(frame)} rows with a label; at least {MIN_ROWS} are needed")
    if spec.task is Task.regression:
        numeric = pd.to_numeric(target, errors="coerce")
        bad = numeric.isna()
        if bad.any():
            example = target[bad].iloc[0]
            raise DataError(
                f"{uri}: regression needs a numeric label, but column {label!r} has "
                f"{int(bad.sum())} non-numeric values such as {example!r}; "
                "use task: classification or clean the column"
            )
        if not np.isfinite(numeric.to_numpy(dtype=float)).all():
            raise DataError(f"{uri}: label column {label!r} has infinite values")
        target = numeric.astype(float)
    else:
        classes = target.nunique()
        if classes < 2:
            raise DataError(
                f"{uri}: classification needs at least two classes, but label column "
                f"{label!r} has only {target.iloc[0]!r}"
            )
        counts = target.value_counts()
        if len(counts) > 0.5 * len(target) and pd.api.types.is_float_dtype(target):
            raise DataError(
                f"{uri}: label column {label!r} looks continuous ({classes} distinct values "
                f"in {len(target)} rows); use task: regression"
            )
    return frame, target.rename(label)


def check_test_columns(test: pd.DataFrame, feature_columns: list[str], label: str, uri: str) -> None:
    missing = [c for c in feature_columns if c not in test.columns]
    if missing:
        raise DataError(f"{uri}: test data lacks the training columns {missing[:10]}")
    if label not in test.columns:
        raise DataError(f"{uri}: test data lacks the label column {label!r}")
