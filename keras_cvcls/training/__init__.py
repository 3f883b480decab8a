"""Training helpers that work in any ``model.fit``: step learning rates, eval history, TensorBoard extras.

Example:
    >>> from keras_cvcls.training import EvalHistory, StepLR, TensorBoardExtras
    >>> callbacks = [
    ...     StepLR("0.01x7,0.001x7,0.0001"),       # cvtk's lr_per_mb; logs "lr"
    ...     EvalHistory(test_pipeline),            # logs "eval_accuracy"; .plot("acc.png")
    ...     keras.callbacks.TensorBoard("logs"),   # after the two above, so it sees their logs
    ...     TensorBoardExtras("logs", eval_data=test_pipeline, labels=ds.labels, sample_images=train_pipeline),
    ... ]
    >>> model.fit(train_pipeline, epochs=15, callbacks=callbacks)
"""

from keras_cvcls.training.eval_history import EvalHistory, evaluate_accuracy
from keras_cvcls.training.step_lr import StepLR, current_learning_rate, parse_lr_schedule, step_lr_schedule
from keras_cvcls.training.tensorboard_extras import TensorBoardExtras, image_grid

__all__ = [
    "EvalHistory",
    "StepLR",
    "TensorBoardExtras",
    "current_learning_rate",
    "evaluate_accuracy",
    "image_grid",
    "parse_lr_schedule",
    "step_lr_schedule",
]
