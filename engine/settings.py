"""The project's dataset, augmentation and training settings: schemas with defaults.

Project files store only these sections' values; the schemas (reusing the layer Param type)
give defaults, ranges and help for the CLI, the designer's forms and load-time validation.
"""

from __future__ import annotations

from typing import Any

from engine.layers.base import Param

DATA = (
    Param("dataset", "str", "digits",
          "Data source: 'digits', 'shapes', 'synthetic' (random pixels, for benchmarks), a "
          "folder of class subfolders, MNIST IDX files, a CSV of path,label or an .npz with "
          "x and y."),
    Param("val_fraction", "float", 0.2, "Fraction held out for validation.", min=0.0,
          max=0.9),
    Param("val_dataset", "str", "", "A separate validation source (overrides val_fraction)."),
    Param("seed", "int", 0, "Seed for the split and generated data.", min=0),
    Param("samples", "int", 2000, "Number of images generated for 'shapes' and 'synthetic'.",
          min=10, max=10_000_000),
    Param("classes", "int", 4, "Number of classes generated for 'shapes' (2–4).", min=2,
          max=4),
    Param("cache", "choice", "auto",
          "Keep decoded images in memory ('memory'), decode them on the fly each epoch "
          "('stream'), or decide by size ('auto': in memory up to a quarter of the RAM).",
          choices=("auto", "memory", "stream")),
    Param("workers", "int", 0, "Processes decoding streamed images (0: one per CPU core, "
          "at most 8).", min=0, max=64),
)

AUGMENTATION = (
    Param("enabled", "bool", False, "Augment training batches (never validation)."),
    Param("rescale", "float", 1.0, "Multiply pixel values by this (Keras's rescale).",
          min=0.0),
    Param("rotation_range", "float", 0.0, "Random rotation in degrees, ±.", min=0.0, max=180.0),
    Param("width_shift_range", "float", 0.0, "Random horizontal shift, fraction of width.",
          min=0.0, max=1.0),
    Param("height_shift_range", "float", 0.0, "Random vertical shift, fraction of height.",
          min=0.0, max=1.0),
    Param("shear_range", "float", 0.0, "Random shear angle in radians, ±.", min=0.0,
          max=1.5),
    Param("zoom_range", "float", 0.0, "Random zoom in [1 − z, 1 + z].", min=0.0, max=0.9),
    Param("horizontal_flip", "bool", False, "Randomly mirror left–right."),
    Param("vertical_flip", "bool", False, "Randomly mirror top–bottom."),
    Param("brightness", "float", 0.0, "Random brightness change, ± fraction.", min=0.0,
          max=1.0),
    Param("contrast", "float", 0.0, "Random contrast change, ± fraction.", min=0.0, max=1.0),
    Param("random_resized_crop", "float", 0.0,
          "Smallest area fraction kept by a random resized crop (0: off).", min=0.0, max=1.0),
    Param("random_erasing", "float", 0.0, "Probability of erasing a random rectangle.",
          min=0.0, max=1.0),
)

TRAINING = (
    Param("epochs", "int", 10, "Passes over the training data.", min=1, max=100_000),
    Param("batch_size", "int", 64, "Images per step.", min=1, max=1_000_000),
    Param("optimizer", "choice", "adam", "Gradient-descent variant.",
          choices=("sgd", "adam", "adamw", "rmsprop")),
    Param("lr", "float", 0.001, "Learning rate.", min=0.0, max=10.0),
    Param("momentum", "float", 0.9, "SGD/RMSprop momentum.", min=0.0, max=0.999),
    Param("nesterov", "bool", False, "Nesterov momentum (SGD)."),
    Param("weight_decay", "float", 0.0, "L2 weight decay.", min=0.0, max=1.0),
    Param("schedule", "choice", "none", "Learning-rate schedule.",
          choices=("none", "step", "cosine", "one_cycle", "plateau")),
    Param("step_size", "int", 10, "Epochs between decays (step schedule).", min=1),
    Param("gamma", "float", 0.1, "Decay factor (step and plateau schedules).", min=0.0,
          max=1.0),
    Param("label_smoothing", "float", 0.0, "Label smoothing for the cross_entropy and nll losses (refused for bce and mse).", min=0.0,
          max=0.99),
    Param("grad_clip", "float", 0.0, "Clip the gradient norm to this (0: off).", min=0.0),
    Param("early_stopping", "int", 0, "Stop after this many epochs without improvement "
          "(0: off).", min=0),
    Param("monitor", "choice", "val_loss", "What 'improvement' means for the best "
          "checkpoint, early stopping and reduce-on-plateau (training loss when there is no "
          "validation data).", choices=("val_loss", "val_accuracy")),
    Param("patience", "int", 2, "Epochs without improvement before reduce-on-plateau "
          "lowers the learning rate.", min=0),
    Param("seed", "int", 0, "Seed for weights, shuffling and augmentation.", min=0),
    Param("device", "choice", "auto", "Where to train: auto (a GPU when there is one), the "
          "CPU, the first CUDA GPU or one by number, or Apple's MPS.",
          choices=("auto", "cpu", "cuda", *(f"cuda:{i}" for i in range(8)), "mps")),
    Param("precision", "choice", "fp32", "Mixed precision.",
          choices=("fp32", "bf16", "fp16")),
    Param("channels_last", "bool", False, "Use the channels-last memory format."),
    Param("compile", "bool", False, "Compile the model with torch.compile."),
    Param("threads", "int", 0, "CPU threads for training (0: PyTorch's default). One thread "
          "is often faster for small networks on a busy machine.", min=0, max=1024),
    Param("telemetry_every", "int", 0, "Send each block's activation statistics and gradient "
          "norm every this many steps (a telemetry event; 0: off).", min=0, max=1_000_000),
)

SECTIONS: dict[str, tuple[Param, ...]] = {
    "data": DATA,
    "augmentation": AUGMENTATION,
    "training": TRAINING,
}


def defaults(section: str) -> dict[str, Any]:
    return {p.name: p.default for p in SECTIONS[section]}


def resolve(section: str, values: dict[str, Any]) -> dict[str, Any]:
    merged = defaults(section)
    merged.update(values)
    return merged
