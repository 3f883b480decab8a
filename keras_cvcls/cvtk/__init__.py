"""cvtk's names over keras-cvcls: run a cvtk (Azure ML Package for Computer Vision) script by changing its imports.

Thin aliases and adapters over our own API; the README's "Coming from cvtk" maps each call::

    from keras_cvcls.cvtk import ClassificationDataset, CNTKTLModel, Context, StorageContext
    from keras_cvcls.cvtk import augment_dataset
    from keras_cvcls.cvtk import ClassificationEvaluation, graph_roc_curve, graph_pr_curve, graph_confusion_matrix
    from keras_cvcls.cvtk import AMLDeployment, ClassificationRESTApiParameters

``CNTKTLModel`` is :class:`TransferLearningModel` (no CNTK inside: a Keras model) and
``AMLDeployment`` is :class:`LocalDeployment` (no Azure: our export and embedded server).

``examples/cvtk_walkthrough.py`` is cvtk's image-classification walkthrough run this way.
"""

from keras_cvcls.cvtk.context import Context
from keras_cvcls.cvtk.context import StorageContext
from keras_cvcls.cvtk.dataset import ClassificationDataset
from keras_cvcls.cvtk.dataset import Image
from keras_cvcls.cvtk.dataset import Label
from keras_cvcls.cvtk.dataset import augment_dataset
from keras_cvcls.cvtk.local_deployment import ADD_SOFTMAX
from keras_cvcls.cvtk.local_deployment import ClassificationRESTApiParameters
from keras_cvcls.cvtk.local_deployment import LocalDeployment
from keras_cvcls.cvtk.evaluation import ClassificationEvaluation
from keras_cvcls.cvtk.transfer_learning_model import CVTK_BACKBONES
from keras_cvcls.cvtk.transfer_learning_model import TransferLearningModel
from keras_cvcls.cvtk.ui import AnnotationUI
from keras_cvcls.cvtk.ui import PrecisionRecallUI
from keras_cvcls.cvtk.ui import ResultsUI
from keras_cvcls.evaluation import graph_confusion_matrix
from keras_cvcls.evaluation import graph_pr_curve
from keras_cvcls.evaluation import graph_roc_curve
from keras_cvcls.models import ScikitClassifier

CNTKTLModel = TransferLearningModel
AMLDeployment = LocalDeployment


def parse_serialized_result(serialized):
    """Scores from a serialized scoring result: :func:`keras_cvcls.serving.parse_serialized_result`."""
    return TransferLearningModel.parse_serialized_result(serialized)


__all__ = [
    "ADD_SOFTMAX",
    "AMLDeployment",
    "AnnotationUI",
    "CNTKTLModel",
    "CVTK_BACKBONES",
    "ClassificationDataset",
    "ClassificationEvaluation",
    "ClassificationRESTApiParameters",
    "Context",
    "Image",
    "Label",
    "LocalDeployment",
    "PrecisionRecallUI",
    "ResultsUI",
    "ScikitClassifier",
    "StorageContext",
    "TransferLearningModel",
    "augment_dataset",
    "graph_confusion_matrix",
    "graph_pr_curve",
    "graph_roc_curve",
    "parse_serialized_result",
]
