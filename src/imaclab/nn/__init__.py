"""imaclab.nn: quantizers, hardware-aware layers, model zoo, policies, training, exports.

Data sets live in :mod:`imaclab.data`.  Import the submodules directly (this package imports
nothing, so that importing it does not load torch):

* :mod:`imaclab.nn.quantizers` -- binary / ternary / k-bit quantizers with straight-through gradients
* :mod:`imaclab.nn.layers` -- ``QConv2d``, ``QDepthwiseConv2d``, ``QLinear``, ``CurveActivation``
* :mod:`imaclab.nn.imac_layers` -- ``IMACLinear``, ``IMACHead``, ``IMACSpec``
* :mod:`imaclab.nn.zoo` -- ``build_model(name, num_classes, input_shape, width=...)``, ``MODELS``
* :mod:`imaclab.nn.policy` -- ``PrecisionPolicy``, ``get_policy``, ``apply_policy``, ``POLICIES``
* :mod:`imaclab.nn.training` -- ``TrainConfig``, ``train``, ``run_training``, ``load_run``, ``evaluate``
* :mod:`imaclab.nn.export` -- ``export_run``, ``imac_inputs``, ``layer_table`` (``imac.npz``, ``layers.json``)
"""
