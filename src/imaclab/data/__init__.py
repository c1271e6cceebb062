"""imaclab.data: the data sets every room reads (no torch needed).

    from imaclab.data import load_dataset
    test = load_dataset("digits", split="test", flatten=True)

Shipped: scikit-learn's 8x8 digits (the default, no files needed); Fashion-MNIST from
Debian's ``dataset-fashion-mnist``; MNIST and CIFAR-10 from a folder the user names.
Nothing is downloaded at run time.
"""

from imaclab.data.datasets import (
                                   DATASETS,
                                   FASHION_MNIST_DEFAULT_ROOT,
                                   Dataset,
                                   Normalization,
                                   center_crop,
                                   load_dataset,
                                   resize_images,
)

__all__ = ["DATASETS", "FASHION_MNIST_DEFAULT_ROOT", "Dataset", "Normalization", "center_crop", "load_dataset",
           "resize_images"]
