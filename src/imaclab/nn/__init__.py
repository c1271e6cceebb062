"""imaclab.nn: data sets, quantizers, hardware-aware layers, model zoo, policies, training, exports.

Import the submodules directly (this package imports nothing, so that ``imaclab.nn.datasets``
stays free of torch):

* :mod:`imaclab.nn.datasets` -- ``load_dataset(name, split=..., root=..., crop=..., flatten=...)``,
  ``Dataset``, ``Normalization``, ``DATASETS``
* :mod:`imaclab.nn.quantizers` -- binary / ternary / k-bit quantizers with straight-through gradients
* :mod:`imaclab.nn.layers` -- ``QConv2d``, ``QDepthwiseConv2d``, ``QLinear``, ``CurveActivation``
* :mod:`imaclab.nn.imac_layers` -- ``IMACLinear``, ``IMACHead``, ``IMACSpec``
* :mod:`imaclab.nn.zoo` -- ``build_model(name, num_classes, input_shape, width=...)``, ``MODELS``
* :mod:`imaclab.nn.policy` -- ``PrecisionPolicy``, ``get_policy``, ``apply_policy``, ``POLICIES``
* :mod:`imaclab.nn.training` -- ``TrainConfig``, ``train``, ``run_training``, ``load_run``, ``evaluate``
* :mod:`imaclab.nn.export` -- ``export_run``, ``imac_inputs``, ``layer_table`` (``imac.npz``, ``layers.json``)
"""
