"""The course the labs come from, as the lab book tells it: its order, its questions with dlabs'
answers, and the traps its material falls into.

The order is the manual's (../shared/manual/lab-manual.txt): its index numbers the experiments,
and its letter-recognition experiment runs its code on MNIST, so `mnist` follows `letters`. Each
question is the manual's "Assignment Question" for the lab (the fashion lab repeats imdb's), with a
short answer in dlabs' words and the studies (`dlabs study run NAME`) that show the idea on the
lab's own data. Plain data: the book's writer and `dlabs study list` read it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Question:
    text: str
    answer: str
    studies: tuple[str, ...] = ()


@dataclass(frozen=True)
class Trap:
    trap: str  # what the course material does
    fix: str  # what dlabs does instead


@dataclass(frozen=True)
class Chapter:
    lab: str
    part: str  # where the manual has it
    questions: tuple[Question, ...] = ()
    traps: tuple[Trap, ...] = ()


_VALIDATION = Trap(
    "The manual's code passes the test set as `validation_data` and then reports `model.evaluate` on that same "
    "test set: the number it prints has been looked at every epoch, and a choice made from it (when to stop, "
    "which run to keep) leaks the test set into the model.",
    "Validation rows come out of the training split only (a seeded share, `data.val_fraction`); early stopping "
    "and model choice see nothing else, and the published test split is read once, by `dlabs evaluate`.")

_ADAM = ("Adam keeps, for every weight, a running mean of its gradients (momentum) and of their squares, and "
         "steps by the first divided by the square root of the second: each weight gets its own step size, "
         "large where gradients are small and consistent, small where they are large or noisy. It needs little "
         "tuning, which is why the course uses it by default.")

COURSE: tuple[Chapter, ...] = (
    Chapter("boston", "Experiment 1: linear regression by a deep neural network (Boston housing)", (
        Question("What is linear regression?",
                 "A model that predicts a number as a weighted sum of the features plus a constant, with the weights "
                 "chosen to minimise the squared error on the training rows. It is a network with no hidden layer: "
                 "the capacity study trains exactly that (model.hidden=()) beside deeper networks, and the report "
                 "scores scikit-learn's closed-form linear regression as a baseline on the same split.",
                 ("boston-capacity",)),
        Question("What is a deep neural network?",
                 "A stack of layers, each a linear map followed by a non-linear function (ReLU here), so that later "
                 "layers combine features that earlier layers computed. With enough hidden units it can fit curved "
                 "relationships a linear model cannot, and also noise: the capacity study shows both on 404 houses.",
                 ("boston-capacity",)),
        Question("What is the concept of standardization?",
                 "Rescaling each feature to mean 0 and standard deviation 1, using the mean and deviation of the "
                 "training rows. Boston's features range from 0.4 (NOX) to 700 (TAX); unscaled, the large ones "
                 "dominate the first layer and gradient descent crawls. The statistics are part of the model: dlabs "
                 "saves them in the run and applies them, unchanged, to every house it predicts.",
                 ("boston-standardise",)),
        Question("Why split data into train and test?",
                 "Because error on the rows a model was fitted to says little about new rows: a big enough model "
                 "drives its training error towards zero while its error on unseen houses stops improving. Only rows "
                 "kept out of fitting and out of every choice estimate how the model will do on new data.",
                 ("boston-capacity",)),
        Question("Write down applications of deep neural networks.",
                 "Prediction from tables (prices, risk, demand), images (recognising digits, clothing, faces; "
                 "estimating age; colouring photos), text (sentiment, translation, search) and sequences (speech, "
                 "sensor and price series). The nine labs of this book are instances of each kind, and each one "
                 "shows where a simple baseline is hard to beat."),
    ), (
        Trap("To predict one new house, the manual fits a new StandardScaler on that single row "
             "(`StandardScaler().fit_transform([[...]])`). A one-row standardisation maps every feature to 0, so "
             "every house gets the same price whatever its features.",
             "The scaler is fitted on the training rows only, saved with the model (state.json), and reused as it "
             "is for every prediction, on the command line and the web."),
    )),
    Chapter("imdb", "Experiment 2(A): binary classification of movie reviews (IMDB)", (
        Question("What is binary classification?",
                 "Sorting each input into one of two classes (a positive or a negative review). The network gives "
                 "one number, a logit; the sigmoid turns it into the probability of the positive class, and the "
                 "review is called positive when that probability is at least 0.5."),
        Question("What is binary cross-entropy?",
                 "The loss of a binary classifier: minus the log of the probability the model gave to the true "
                 "class, averaged over examples. A confident wrong answer costs a lot (-log 0.01 = 4.6), a confident "
                 "right one almost nothing. It is the loss the validation curves of the epochs study draw.",
                 ("imdb-epochs",)),
        Question("What is validation split?",
                 "A share of the training data held out from fitting, to watch the model on rows it does not learn "
                 "from while choices are made (when to stop, which settings to keep). It is not the test set: the "
                 "test set is used once, at the end, after every choice.",
                 ("imdb-epochs",)),
        Question("What is the epoch cycle?",
                 "One epoch is one pass over all the training rows in shuffled mini-batches, a weight update per "
                 "batch; after each epoch the model is scored on the validation rows. Repeating it lowers the "
                 "training loss every time, while the validation loss falls, then turns up as the model starts to "
                 "memorise; early stopping keeps the epoch before that.",
                 ("imdb-epochs",)),
        Question("What is Adam optimizer?", _ADAM, ("letters-optimizer",)),
    ), (
        Trap("The manual splits all 50,000 reviews at random 80/20 (reviews of the same film on both sides), "
             "validates on its test part and reports that number.",
             "dlabs starts from the raw text and keeps the official 25,000 / 25,000 split, whose test reviews are "
             "of other films; the vocabulary is fitted on the training reviews only."),
        _VALIDATION,
    )),
    Chapter("letters", "Experiment 2(B): multiclass classification, OCR letter recognition", (
        Question("What is batch size?",
                 "How many examples the gradient of one weight update is averaged over. Small batches give many noisy "
                 "updates per epoch, large ones few smooth updates that run faster per example on parallel hardware; "
                 "for the same number of epochs, larger batches mean fewer steps.",
                 ("letters-batch-size",)),
        Question("What is dropout?",
                 "During training, each hidden unit is switched off at random with probability p in every batch, so "
                 "the network cannot rely on any one unit and learns redundant features; at test time all units are "
                 "on. It is meant to narrow the gap between training and validation accuracy.",
                 ("letters-dropout",)),
        Question("What is RMSprop?",
                 "An optimizer that divides each weight's gradient by the square root of a running mean of its recent "
                 "squared gradients, so every weight moves at a similar pace whatever the scale of its gradient. Adam "
                 "is RMSprop with momentum added; the manual uses RMSprop for its letters and MNIST MLPs.",
                 ("letters-optimizer",)),
        Question("What is the softmax function?",
                 "It turns a vector of scores (one per class, 26 letters here) into probabilities: exponentiate each "
                 "score and divide by the sum. The largest score gets the largest probability; the predict output "
                 "lists the top three. Training minimises the cross-entropy of these probabilities."),
        Question("What is the ReLU function?",
                 "ReLU(x) = max(0, x): it passes positive values and zeroes negative ones. Its gradient is 1 wherever a "
                 "unit is active, so gradients do not shrink through many layers as they do with the sigmoid and tanh, "
                 "which flatten out for large inputs.",
                 ("letters-activation",)),
    ), (
        Trap("letter-recognition.data has no header row. Read with pandas' default `header=0`, its first sample "
             "becomes the column names and the model silently trains on 19,999 rows.",
             "dlabs reads the file with no header and checks that all 20,000 rows are there, then keeps UCI's "
             "split: the first 16,000 rows train, the last 4,000 test."),
    )),
    Chapter("mnist", "Experiment 2(B), the manual's code: handwritten digits (MNIST)", (), (
        _VALIDATION,
        Trap("A digit drawn or photographed by a person is dark on light and not centred; fed as it is, it looks "
             "nothing like MNIST's training images.",
             "Predict prepares every image the way MNIST was made: grey, light on dark, fitted in 20x20 and centred "
             "by mass in 28x28."),
    )),
    Chapter("fashion", "Experiment 4: Fashion-MNIST clothing with a CNN", (
        Question("What is binary classification?",
                 "Sorting inputs into two classes. Fashion-MNIST has ten, so this lab is multiclass: a softmax over ten "
                 "scores instead of one sigmoid. A one-against-the-rest view (is it a shirt or not?) turns each class "
                 "into a binary problem, which is how the per-class precision and recall plots read."),
        Question("What is binary cross-entropy?",
                 "The loss of a two-class model: minus the log of the probability given to the true class. This lab "
                 "uses its ten-class form, categorical cross-entropy, on the softmax output.",
                 ("imdb-epochs",)),
        Question("What is validation split?",
                 "A share of the 60,000 training images (10% in the manual preset) kept out of fitting to score each "
                 "epoch. The manual uses the 10,000 test images for this instead; dlabs never does.",
                 ("fashion-batchnorm",)),
        Question("What is the epoch cycle?",
                 "A pass over every training image in shuffled batches, one update per batch, then a score on the "
                 "validation images. The curves of the batch-normalisation study show one point per epoch.",
                 ("fashion-batchnorm",)),
        Question("What is Adam optimizer?", _ADAM, ("letters-optimizer", "fashion-batchnorm")),
    ), (_VALIDATION,)),
    Chapter("stocks", "Experiment 5: Google stock prices with a recurrent network", (), (
        Trap("The course's Google_Stock_Price_Train.csv has a Close column that is not split-adjusted before late "
             "March 2014 (about twice the Open), mixed date formats and thousands separators in Volume.",
             "The reader parses both date formats and the separators, detects the unadjusted closes from the data "
             "and halves them, and records what it fixed in the report."),
        Trap("Scaling prices to [0, 1] with the minimum and maximum of the whole series lets the test period leak "
             "into the training inputs, and a level model fails once prices leave the range it saw.",
             "Scalers are fitted on the training period only, every forecast of day t uses rows before t, and the "
             "model is measured against persistence and yesterday's close, also in a walk-forward backtest."),
    )),
    Chapter("faces", "Mini project 1: human face recognition", (
        Question("What do you mean by exploratory analysis?",
                 "Looking at the data before modelling it: how many examples of each class, the range and "
                 "distribution of each feature, missing values, correlations, a sample of images. It is where dlabs "
                 "found the letters file's missing header and the stock file's unadjusted closes. Each chapter of "
                 "this book opens with its lab's exploration (`dlabs data info LAB --plots DIR`)."),
        Question("What do you mean by correlation matrix?",
                 "A table of the correlation coefficient between every pair of variables, from -1 (one falls as the "
                 "other rises) through 0 (no linear relation) to 1. Boston's heatmap in chapter 1 shows LSTAT and RM "
                 "as the features most correlated with the price, and several features correlated with each other."),
        Question("What is Conv2D used for?",
                 "A 2-D convolution slides small learned filters (3x3 here) over an image, so the same edge or texture "
                 "detector is applied everywhere and a pattern is recognised wherever it appears, with far fewer "
                 "weights than a dense layer on all pixels. Stacked with pooling, later layers see larger parts.",
                 ("fashion-conv",)),
    ), (
        Trap("The manual's face recognition code trains a Smiling classifier on CelebA with a split reshuffled "
             "without a seed on every run, and predicts on a photo read by OpenCV (BGR, unscaled, no face found or "
             "cropped) although it trained on RGB pixels divided by 255.",
             "dlabs identifies people on LFW with a fixed split, and finds and crops the face in a photo the way "
             "the training faces are framed; pixel scaling is a layer of the model, the same in training and use."),
    )),
    Chapter("agegender", "Mini project 2: gender and age detection", (
        Question("What do you mean by mean squared error (MSE)?",
                 "The average of the squared differences between predicted and true values (years of age here). "
                 "Squaring punishes large errors much more than small ones, so a model trained on MSE works hardest on "
                 "its worst cases and its errors are pulled towards the mean; its square root, RMSE, is in years.",
                 ("agegender-age-loss",)),
        Question("What do you mean by mean absolute error (MAE)?",
                 "The average absolute difference between predicted and true values: 'off by 6 years on average'. "
                 "Every year of error counts the same, so it is less driven by a few faces whose age is hard to tell; "
                 "a model trained on it aims at the median rather than the mean.",
                 ("agegender-age-loss",)),
        Question("What are data generators?",
                 "Objects that produce training batches on the fly (Keras' ImageDataGenerator), reading and "
                 "transforming images as they are needed instead of holding them all prepared in memory, often with "
                 "random changes (shifts, flips) so that every epoch sees new variants. dlabs keeps the decoded faces "
                 "in memory and applies the random changes to each batch.",
                 ("agegender-augment",)),
    ), (
        Trap("The manual shuffles the faces without a seed before its 80/10/10 split, so every run is tested on "
             "different faces, and predicts on an uncropped photo without its training rescale.",
             "The split is a committed file (splits/utkface.json), stratified by gender and age band; photos "
             "given to predict are cropped around the detected face as the training faces are; the report adds "
             "the errors by race, gender and age band, which one overall MAE hides."),
    )),
    Chapter("colorize", "Mini project 3: colorizing old black-and-white photos", (
        Question("Explain VGG CNN model.",
                 "VGG (Simonyan and Zisserman, 2014) is a deep CNN built from one repeated block: several 3x3 "
                 "convolutions with ReLU, then 2x2 max-pooling that halves the size, the channels doubling from stage "
                 "to stage (64, 128, 256, 512). Two stacked 3x3 filters see a 5x5 patch with fewer weights. dlabs' "
                 "image networks (the convnet of mnist, fashion and agegender) are small VGG-style nets with batch "
                 "normalisation.",
                 ("fashion-batchnorm",)),
        Question("Explain batch normalization.",
                 "A layer that standardises each channel over the current batch (mean 0, deviation 1) and then "
                 "rescales it with two learned numbers; at test time it uses running averages from training. It "
                 "keeps the inputs of every layer on a steady scale, which allows higher learning rates and usually "
                 "makes deep networks train faster.",
                 ("fashion-batchnorm",)),
        Question("Explain UpSampling2D.",
                 "A layer with no weights that makes a feature map larger, doubling its height and width by default: "
                 "Keras repeats each value into a 2x2 block (nearest) unless asked to interpolate (bilinear). The "
                 "manual's colorizer halves the image three times and uses three of them to get back to full size.",
                 ("colorize-upsampling",)),
    ), (
        Trap("The manual's colorizer loads weights it never trains, and saves the network's two ab channels "
             "(times 128 plus 128) as the picture, without the lightness channel and without turning Lab into RGB.",
             "dlabs trains the model on its photo sets, then recombines the predicted ab with the photo's own "
             "full-resolution L and converts Lab to RGB; it is scored on held-out photos against the grey image."),
    )),
)

ORDER: tuple[str, ...] = tuple(c.lab for c in COURSE)


def chapter(lab: str) -> Chapter:
    return next(c for c in COURSE if c.lab == lab)
