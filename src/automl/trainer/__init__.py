"""The trainer: the unit of work that runs in its own process locally and in its own pod
on Kubernetes. ``core`` trains one candidate; ``__main__`` is the command line of the trainer
image (``train``, ``prepare``, ``finalize``)."""

from automl.trainer.core import build_pipeline, load_fold_models, load_oof, predict_raw, train_candidate

__all__ = ["build_pipeline", "load_fold_models", "load_oof", "predict_raw", "train_candidate"]
