"""Upper bounds of TPU-IMAC's gains over a TPU, from the systolic model alone (no IMAC measurement).

For every zoo model (Fashion-MNIST input 1x28x28, 10 classes) at two widths and for several
systolic settings, the TPU-only design is costed with :func:`imaclab.hetero.cost_designs`
(``imac_layers: none``) and the fully connected layers' share of it is reported:

    f_fc     = FC latency / total latency on the TPU only
    S_max    = 1 / (1 - f_fc)              speedup if IMAC ran the FC layers in zero time
    mem_red  = FC weight bytes / all weight bytes   (the memory reduction TPU-IMAC can reach)

The measured TPU-IMAC speedup can only be lower than S_max (IMAC settling time, hand-offs).
A second table puts VGG-style dense heads (hidden FC layers of 1024 or 4096 units) on the
mobile CNNs -- plain ``nn.Module``s built from the zoo's feature extractors and
:class:`~imaclab.nn.zoo.FCHead` -- to show how large the FC part must be for the published gains.
Run: ``.venv/bin/python benchmarks/hetero_bounds.py``; it prints one row per case and the
largest bound found, next to the published 2.59x / 88 %.
"""

from __future__ import annotations

import time

import torch

from imaclab.hetero import HeteroConfig, cost_designs
from imaclab.nn.zoo import FCHead, ZooModel, build_model

MODELS = ("lenet5", "vgg-small", "mobilenet-v1", "mobilenet-v2", "shufflenet-v2", "resnet18")
WIDTHS = (0.25, 1.0)
SETTINGS = {  # label -> (tpu, tpu_overrides)
    "edge, DRAM 10 w/c": ("edge", {"dram_bandwidth_words_per_cycle": 10}),
    "edge, stall-free": ("edge", {}),
    "edge, DRAM 1 w/c": ("edge", {"dram_bandwidth_words_per_cycle": 1}),
    "cloud 128x128, DRAM 10 w/c": ("cloud", {"dram_bandwidth_words_per_cycle": 10}),
}
INPUT_SHAPE, CLASSES = (1, 28, 28), 10
DENSE_HEADS = ((), (1024,), (4096, 4096))
"""Hidden FC sizes put on the mobile CNNs (VGG-16's classifier has two 4096-unit layers)."""


def fc_share(model, config: HeteroConfig) -> tuple[float, float, float]:
    """(f_fc, S_max, FC share of weight bytes) of ``model``'s TPU-only design."""
    design = cost_designs(model=model, config=config).designs["tpu-only"]
    total = design.total
    fc = [c for c in design.layers if c.kind == "linear"]
    f_fc = sum(c.latency_s for c in fc) / total.latency_s
    return f_fc, 1.0 / (1.0 - f_fc), sum(c.weight_bytes for c in fc) / total.weight_bytes


def main() -> None:
    torch.manual_seed(0)
    start = time.perf_counter()
    print(f"{'model':14s} {'width':>5s} {'setting':28s} {'f_fc':>7s} {'S_max':>7s} {'mem_red':>8s}")
    best = (0.0, None)
    for name in MODELS:
        for width in WIDTHS:
            model = build_model(name, CLASSES, INPUT_SHAPE, width=width if name != "lenet5" else 1.0)
            if name == "lenet5" and width != 1.0:
                continue
            for label, (tpu, overrides) in SETTINGS.items():
                config = HeteroConfig(tpu=tpu, tpu_overrides=overrides, imac_layers="none")
                f_fc, bound, mem = fc_share(model, config)
                if bound > best[0]:
                    best = (bound, f"{name} width {width} {label}")
                print(f"{name:14s} {width:5.2f} {label:28s} {f_fc:7.3f} {bound:7.3f} {100 * mem:7.1f}%")
    print(f"\n{'model + dense head':34s} {'f_fc':>7s} {'S_max':>7s} {'mem_red':>8s}   (edge, DRAM 10 w/c)")
    config = HeteroConfig(imac_layers="none")
    for name in ("mobilenet-v1", "mobilenet-v2", "shufflenet-v2"):
        base = build_model(name, CLASSES, INPUT_SHAPE, width=1.0)
        features = base.classifier.dims[0]
        for hidden in DENSE_HEADS:
            head = FCHead([features, *hidden, CLASSES])
            model = ZooModel(f"{name}+{list(hidden)}", base.features, head, input_shape=INPUT_SHAPE,
                             num_classes=CLASSES, width=1.0, normalize=base.normalize)
            f_fc, bound, mem = fc_share(model, config)
            label = f"{name} + FC{list(hidden) or ''}"
            print(f"{label:34s} {f_fc:7.3f} {bound:7.3f} {100 * mem:7.1f}%")
    print(f"largest speedup bound {best[0]:.3f}x ({best[1]}); published TPU-IMAC: up to 2.59x speedup, 88% "
          f"memory reduction; {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
