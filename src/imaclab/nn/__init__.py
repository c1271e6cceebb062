"""imaclab.nn: quantizers, hardware-aware layers, model zoo, policies, training, exports.

The API (loaded on first use, so that ``import imaclab.nn`` does not load torch)::

    from imaclab.nn import TrainJob, run, load_result
    result = run(TrainJob(model="mlp-64-32-10", data="digits", epochs=2), out_dir="runs/digits")
    result.test_accuracy, result.metrics(), load_result("runs/digits")

* :mod:`imaclab.nn.api` -- ``TrainJob``, ``NoiseConfig``, ``run``, ``TrainResult``, ``load_result``

Data sets live in :mod:`imaclab.data`.  The building blocks are submodules:

* :mod:`imaclab.nn.quantizers` -- binary / ternary / k-bit quantizers with straight-through gradients
* :mod:`imaclab.nn.layers` -- ``QConv2d``, ``QDepthwiseConv2d``, ``QLinear``, ``CurveActivation``
* :mod:`imaclab.nn.imac_layers` -- ``IMACLinear``, ``IMACHead``, ``IMACSpec``
* :mod:`imaclab.nn.zoo` -- ``build_model(name, num_classes, input_shape, width=...)``, ``MODELS``
* :mod:`imaclab.nn.policy` -- ``PrecisionPolicy``, ``get_policy``, ``apply_policy``, ``POLICIES``
* :mod:`imaclab.nn.training` -- the loop: ``train``, ``load_run``, ``evaluate``, ``predict``
* :mod:`imaclab.nn.export` -- ``export_run``, ``imac_inputs``, ``layer_table`` (``imac.npz``, ``layers.json``)
* :mod:`imaclab.nn.progress` -- training observers (``RichProgress``, ``TrainObserver``)
"""

from __future__ import annotations

from typing import Any

_API = ("TrainJob", "NoiseConfig", "TrainResult", "run", "load_result")
__all__ = list(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        from imaclab.nn import api

        return getattr(api, name)
    raise AttributeError(f"module 'imaclab.nn' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
