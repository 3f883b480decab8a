"""Training helpers that work in any ``model.fit``: step learning rates, eval history, TensorBoard extras.

Example:
    >>> from keras_cvcls.training import EvalHistory, StepLR, TensorBoardExtras
    >>> eval_history = EvalHistory()                  # cvtk's train_eval_accs; .plot("acc.png")
    >>> callbacks = [
    ...     StepLR("0.01x7,0.001x7,0.0001"),       # cvtk's lr_per_mb; logs "learning_rate"
    ...     eval_history,                          # records accuracy and val_accuracy per epoch
    ...     keras.callbacks.TensorBoard("logs"),   # train/ and validation/ runs
    ...     TensorBoardExtras("logs", eval_data=test_pipeline, labels=ds.labels, sample_images=train_pipeline),
    ...     keras.callbacks.EarlyStopping(monitor="val_loss", patience=3),
    ... ]
    >>> model.fit(train_pipeline, validation_data=test_pipeline, epochs=15, callbacks=callbacks)
"""

from keras_cvcls.training.auto_compile import auto_compile_arguments
from keras_cvcls.training.eval_history import EvalHistory, evaluate_accuracy
from keras_cvcls.training.lr_finder import LRFinderResult, lr_find
from keras_cvcls.training.schedules import SCHEDULES, OneCycle, cosine_schedule, make_schedule
from keras_cvcls.training.step_lr import StepLR, current_learning_rate, parse_lr_schedule, step_lr_schedule
from keras_cvcls.training.tensorboard_extras import TensorBoardExtras, image_grid

__all__ = [
    "LRFinderResult",
    "lr_find",
    "SCHEDULES",
    "OneCycle",
    "cosine_schedule",
    "make_schedule",
    "EvalHistory",
    "StepLR",
    "TensorBoardExtras",
    "auto_compile_arguments",
    "current_learning_rate",
    "evaluate_accuracy",
    "image_grid",
    "parse_lr_schedule",
    "step_lr_schedule",
]
