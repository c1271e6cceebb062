"""imaclab.circuit: one circuit description of a crossbar network and its SPICE netlists.

    from imaclab.circuit import build_circuit, NetworkCircuit, MLPModel, CircuitConfig
"""

from imaclab.circuit.config import AmplifierConfig, CircuitConfig, CrossbarConfig, LoadingConfig, NetworkConfig
from imaclab.circuit.description import (
                                         Amplifier,
                                         LayerCircuit,
                                         NetworkCircuit,
                                         Neuron,
                                         Tile,
                                         build_circuit,
                                         crossbars_per_layer,
                                         partition_counts,
)
from imaclab.circuit.mlp import MLPModel

__all__ = ["Amplifier", "AmplifierConfig", "CircuitConfig", "CrossbarConfig", "LayerCircuit", "LoadingConfig",
           "MLPModel", "NetworkCircuit", "NetworkConfig", "Neuron", "Tile", "build_circuit", "crossbars_per_layer",
           "partition_counts"]
