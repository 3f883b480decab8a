"""keras-cvcls: from a folder of photos to an image classifier served by TensorFlow Serving.

The public API, re-exported here::

    import keras_cvcls as kc

    ds = kc.ClassificationDataset.from_directory("photos/")
    train, test = ds.split(train_size=0.66, seed=0)
    model = kc.ImageClassifier(ds.labels, "resnet50", weights="imagenet", image_size=224)
    model.fit(train, epochs=15, lr_per_epoch=[0.01] * 7 + [0.001] * 7 + [0.0001],
              validation_data=test, augment="standard", tensorboard_logdir="runs/logs")
    ev = kc.ClassificationEvaluation(model, test)
    kc.write_report(ev, "report.html")
"""

__version__ = "0.1.0"

from keras_cvcls import datasets
from keras_cvcls.data import DEFAULT_MAX_PIXELS
from keras_cvcls.data import NORMALIZATIONS
from keras_cvcls.data import RESIZE_MODES
from keras_cvcls.data import BadImageError
from keras_cvcls.data import ClassificationDataset
from keras_cvcls.data import ImageNormalization
from keras_cvcls.data import ImageRecord
from keras_cvcls.data import ImageValidationError
from keras_cvcls.data import SkippedFile
from keras_cvcls.data import check_image
from keras_cvcls.data import decode_image
from keras_cvcls.data import make_pipeline
from keras_cvcls.datasets import make_sample
from keras_cvcls.augment import augment_dataset
from keras_cvcls.augment import get_augmentation
from keras_cvcls.augment import list_augmentations
from keras_cvcls.evaluation import ClassificationEvaluation
from keras_cvcls.evaluation import ConfusionMatrixDisplay
from keras_cvcls.evaluation import PrecisionRecallDisplay
from keras_cvcls.evaluation import RocCurveDisplay
from keras_cvcls.evaluation import TopLossesDisplay
from keras_cvcls.evaluation import TrainingCurveDisplay
from keras_cvcls.evaluation import graph_confusion_matrix
from keras_cvcls.evaluation import graph_pr_curve
from keras_cvcls.evaluation import graph_roc_curve
from keras_cvcls.evaluation import write_report
from keras_cvcls.export import export_for_serving
from keras_cvcls.models import ImageClassifier
from keras_cvcls.models import ScikitClassifier
from keras_cvcls.models import WeightsUnavailableError
from keras_cvcls.models import create_backbone
from keras_cvcls.models import get_backbone_config
from keras_cvcls.models import list_backbones
from keras_cvcls.models import load_classifier
from keras_cvcls.models import register_backbone
from keras_cvcls.serving import ScoringClient
from keras_cvcls.serving import run_loadtest
from keras_cvcls.training import EvalHistory
from keras_cvcls.training import StepLR
from keras_cvcls.training import TensorBoardExtras
from keras_cvcls.training import parse_lr_schedule
