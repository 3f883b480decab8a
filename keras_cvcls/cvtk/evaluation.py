"""cvtk's ``ClassificationEvaluation``, over :class:`keras_cvcls.ClassificationEvaluation`."""

from keras_cvcls.evaluation import ClassificationEvaluation as _ClassificationEvaluation


class ClassificationEvaluation(_ClassificationEvaluation):
    """cvtk's ``ClassificationEvaluation(model, test_set, minibatch_size=)``.

    :class:`keras_cvcls.ClassificationEvaluation` with cvtk's ``minibatch_size`` for our
    ``batch_size``; ``compute_accuracy``, ``compute_confusion_matrix``,
    ``compute_precision_recall_curve`` and ``scores`` are the same.
    """

    def __init__(self, classifier, dataset, minibatch_size=32):
        super().__init__(classifier, dataset, batch_size=minibatch_size)
