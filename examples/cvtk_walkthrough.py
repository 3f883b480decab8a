"""cvtk's image-classification walkthrough (Azure ML Package for Computer Vision, 2018), on keras-cvcls.

The notebook's code, cell by cell, with only its imports changed from ``cvtk`` to
``keras_cvcls.cvtk``. What else differs, each marked ``# keras-cvcls:`` where it is:

- a preamble (below) generates a small stand-in for the notebook's recycling images when
  ``classification/sample_data/imgs_recycling`` is absent (they do not ship with keras-cvcls);
- the settings are small, so it runs in about a minute on a laptop CPU: 64 px images, 3 epochs,
  and ``base_model_name = "efficientnet_lite0"``, whose ImageNet weights ship with keras-cvcls
  (``"ResNet18_ImageNet_CNTK"`` maps to our ResNet-18, whose weights need a download or a file);
- Azure-only steps are left out (the Azure ML logger, CLI log-in and set-up), ``aml_env`` is
  ``"local"`` (our export served by our embedded TF-Serving-compatible server), and the example
  URLs on Azure blob storage, unreachable offline, are local test images;
- the optional "persist your model" cell runs (it is commented out in the notebook), and the
  cell that posts cvtk's own JSON format with ``requests`` is left out: the server speaks
  TF Serving's REST API, which ``score_existing_service_with_image`` uses;
- the service URL and key placeholders are filled with the local deployment's.

Run it from a scratch folder (it writes ``classification/`` and ``cvtk_output/`` there):

    cd /tmp/cvtk-demo && python /path/to/examples/cvtk_walkthrough.py
"""

# keras-cvcls: preamble, not in the notebook.
import os

from keras_cvcls.datasets import make_sample

if not os.path.isdir("classification/sample_data/imgs_recycling"):
    make_sample("classification/sample_data/imgs_recycling", images_per_label=10, image_size=(64, 80))

# ---------------------------------------------------------------------------------------------
import warnings
warnings.filterwarnings("ignore")
import json, numpy as np, os, timeit
try:  # keras-cvcls: imgaug is optional (it needs numpy<2); only used when augment_train_set is True
    from imgaug import augmenters
except ImportError:
    augmenters = None
from IPython.display import display
from sklearn import svm
from keras_cvcls.cvtk import ClassificationDataset, CNTKTLModel, Context, StorageContext
from keras_cvcls.cvtk import augment_dataset
from keras_cvcls.cvtk import ScikitClassifier
from keras_cvcls.cvtk import ClassificationEvaluation, graph_roc_curve, graph_pr_curve, graph_confusion_matrix
import matplotlib.pyplot as plt

from keras_cvcls.cvtk import AnnotationUI
from keras_cvcls.cvtk import ResultsUI
from keras_cvcls.cvtk import PrecisionRecallUI

# ---------------------------------------------------------------------------------------------
# Create a dataset

# Root image directory
dataset_location = os.path.abspath("classification/sample_data/imgs_recycling")

dataset_name = 'recycling'
dataset = ClassificationDataset.create_from_dir(dataset_name, dataset_location)
print("Dataset consists of {} images with {} labels.".format(len(dataset.images), len(dataset.labels)))
print("Select information for image 2: name={}, label={}, unique id={}.".format(
    dataset.images[2].name, dataset.images[2]._labels[0].name, dataset.images[2]._storage_id))

# ---------------------------------------------------------------------------------------------
# Visualize and annotate images

annotation_ui = AnnotationUI(dataset, Context.get_global_context())
display(annotation_ui.ui)

# ---------------------------------------------------------------------------------------------
# Augment images

# Split the dataset into train and test
train_set_orig, test_set = dataset.split(train_size = 0.66, stratify = "label")
print("Number of training images = {}, test images = {}.".format(train_set_orig.size(), test_set.size()))

augment_train_set = False

if augment_train_set:
    aug_sequence = augmenters.Sequential([
            augmenters.Fliplr(0.5),             # horizontally flip 50% of all images
            augmenters.Crop(percent=(0, 0.1)),  # crop images by 0-10% of their height/width
        ])
    train_set = augment_dataset(train_set_orig, [aug_sequence])
    print("Number of original training images = {}, with augmented images included = {}.".format(train_set_orig.size(), train_set.size()))
else:
    train_set = train_set_orig

# ---------------------------------------------------------------------------------------------
# Define DNN models

# keras-cvcls: small settings (the notebook's defaults are kept below, commented out).
lr_per_mb = [0.01] * 2 + [0.001]
mb_size = 8
input_resoluton = 64
base_model_name = "efficientnet_lite0"

# Default parameters (224 x 224 pixels resolution, Resnet-18)
# lr_per_mb = [0.05]*7 + [0.005]*7 +  [0.0005]
# mb_size = 32
# input_resoluton = 224
# base_model_name = "ResNet18_ImageNet_CNTK"

# Suggested parameters for 500 x 500 pixels resolution, Resnet-50
# (see in the Appendix "How to improve accuracy", last row in table)
# lr_per_mb   = [0.01] * 7 + [0.001] * 7 + [0.0001]
# mb_size    = 8
# input_resoluton = 500
# base_model_name = "ResNet50_ImageNet_CNTK"

# Initialize model
dnn_model = CNTKTLModel(train_set.labels,
                       base_model_name=base_model_name,
                       image_dims = (3, input_resoluton, input_resoluton))

# ---------------------------------------------------------------------------------------------
# Train the classifier

# Train either the DNN or a SVM as classifier
classifier_name = "dnn"

if classifier_name.lower() == "dnn":
    dnn_model.train(train_set, lr_per_mb = lr_per_mb, mb_size = mb_size, eval_dataset=test_set) #, tensorboard_logdir=r"tensorboard"
    classifier = dnn_model
elif classifier_name.lower() == "svm":
    learner = svm.LinearSVC(C=1.0, class_weight='balanced', verbose=0)
    classifier = ScikitClassifier(dnn_model, learner = learner)
    classifier.train(train_set)
else:
    raise Exception("Classifier unknown: " + classifier)

# Plot how the training and test accuracy increases during gradient descent.
if classifier_name == "dnn":
    [train_accs, test_accs, epoch_numbers] = classifier.train_eval_accs
    plt.xlabel("Number of training epochs")
    plt.ylabel("Classification accuracy")
    train_plot = plt.plot(epoch_numbers, train_accs, 'r-', label = "Training accuracy")
    test_plot = plt.plot(epoch_numbers, test_accs, 'b-.', label = "Test accuracy")
    plt.legend()

# ---------------------------------------------------------------------------------------------
# Evaluate and visualize model performance

# Run the classifier on all test set images
ce = ClassificationEvaluation(classifier, test_set, minibatch_size = mb_size)

# Compute Accuracy and the confusion matrix
acc = ce.compute_accuracy()
print("Accuracy = {:2.2f}%".format(100*acc))
cm  = ce.compute_confusion_matrix()
print("Confusion matrix = \n{}".format(cm))

# Show PR curve, ROC curve, and confusion matrix
fig, ((ax1, ax2, ax3)) = plt.subplots(1,3)
fig.set_size_inches(18, 4)
graph_roc_curve(ce, ax=ax1)
graph_pr_curve(ce, ax=ax2)
graph_confusion_matrix(ce, ax=ax3)
plt.show()

# Results viewer UI
labels = [l.name for l in dataset.labels]
pred_scores = ce.scores #classification scores for all images and all classes
pred_labels = [labels[i] for i in np.argmax(pred_scores, axis=1)]

results_ui = ResultsUI(test_set, Context.get_global_context(), pred_scores, pred_labels)
display(results_ui.ui)

# Precision / recall curve UI
precisions, recalls, thresholds = ce.compute_precision_recall_curve()
thresholds = list(thresholds)
thresholds.append(thresholds[-1])
pr_ui = PrecisionRecallUI(100*precisions[::-1], 100*recalls[::-1], thresholds[::-1])
display(pr_ui.ui)

# ---------------------------------------------------------------------------------------------
# Operationalization: deploy and consume

# # Optional. Persist your model on disk and reuse it later for deployment.
from keras_cvcls.cvtk import Context
import os
save_model_path = os.path.join(Context.get_global_context().storage.persistent_path, "saved_classifier.model")
# Save model to disk
dnn_model.serialize(save_model_path)
# Load model from disk
dnn_model = CNTKTLModel.deserialize(save_model_path)

from keras_cvcls.cvtk import AMLDeployment

# set deployment name
deployment_name = "wsdeployment"

# Create deployment object
deploy_obj = AMLDeployment(deployment_name=deployment_name, aml_env="local", associated_DNNModel=dnn_model, replicas=1)

# Check if the deployment name exists, if yes remove it first.
if deploy_obj.is_existing_service():
    AMLDeployment.delete_if_service_exist(deployment_name)

# Create the web service
print("Deploying to a local server...")  # keras-cvcls: the notebook deployed to an Azure cluster
deploy_obj.deploy()
print("Deployment DONE")

# Score with existing deployment object

# Score local image with file path
print("Score local image with file path")
image_path_or_url = test_set.images[0].storage_path
print("Image source:",image_path_or_url)
serialized_result_in_json = deploy_obj.score_image(image_path_or_url, image_resize_dims=[224,224])
print("serialized_result_in_json:", serialized_result_in_json)

# Score image url and remove image resizing
print("Score image url")
image_path_or_url = test_set.images[1].storage_path  # keras-cvcls: offline, a local file stands in for the URL
print("Image source:",image_path_or_url)
serialized_result_in_json = deploy_obj.score_image(image_path_or_url)
print("serialized_result_in_json:", serialized_result_in_json)

# Score image url with added parameters. Add softmax to score.
print("Score image url with added parameters. Add softmax to score")
from keras_cvcls.cvtk import ClassificationRESTApiParameters
image_path_or_url = test_set.images[1].storage_path  # keras-cvcls: offline, a local file stands in for the URL
print("Image source:",image_path_or_url)
serialized_result_in_json = deploy_obj.score_image(image_path_or_url, image_resize_dims=[224,224], parameters={ClassificationRESTApiParameters.ADD_SOFTMAX:True})
print("serialized_result_in_json:", serialized_result_in_json)

# Time image scoring
import timeit

for img_index, img_obj in enumerate(test_set.images[:10]):
    print("Calling API for image {} of {}: {}...".format(img_index, len(test_set.images), img_obj.name))
    tic = timeit.default_timer()
    return_json = deploy_obj.score_image(img_obj.storage_path, image_resize_dims=[224,224])
    print("   Time for API call: {:.2f} seconds".format(timeit.default_timer() - tic))
    print(return_json)

# Score with service endpoint url and service key

# Import related classes and functions
from keras_cvcls.cvtk import AMLDeployment

service_endpoint_url = deploy_obj.service_url # please replace with your own service url
service_key = "" # please replace with your own service key
# score local image with file path
image_path_or_url = test_set.images[0].storage_path
print("Image source:",image_path_or_url)
serialized_result_in_json = AMLDeployment.score_existing_service_with_image(image_path_or_url,service_endpoint_url, service_key = service_key)
print("serialized_result_in_json:", serialized_result_in_json)

# score image url
image_path_or_url = test_set.images[1].storage_path  # keras-cvcls: offline, a local file stands in for the URL
print("Image source:",image_path_or_url)
serialized_result_in_json = AMLDeployment.score_existing_service_with_image(image_path_or_url,service_endpoint_url, service_key = service_key, image_resize_dims=[224,224])
print("serialized_result_in_json:", serialized_result_in_json)

# Parse serialized result from web service

image_path_or_url = test_set.images[0].storage_path
print("Image source:",image_path_or_url)
serialized_result_in_json = deploy_obj.score_image(image_path_or_url, image_resize_dims=[224,224])
print("serialized_result_in_json:", serialized_result_in_json)

# Parse result from json string
import numpy as np
parsed_result = CNTKTLModel.parse_serialized_result(serialized_result_in_json)
print("Parsed result:", parsed_result)
# Map result to image class
class_index = np.argmax(np.array(parsed_result))
print("Class index:", class_index)
dnn_model.class_map
print("Class label:", dnn_model.class_map[class_index])

# keras-cvcls: not in the notebook; stops the local service before the script ends.
deploy_obj.delete()
