"""imaclab: in-memory analog computing and heterogeneous accelerator exploration.

Rooms (one package each), in the order data flows through them:
``nn -> circuit -> spice | solver -> imac -> hetero -> report`` and
``llm -> systolic -> report``; ``devices`` feeds ``circuit``, ``solver`` and ``nn``;
``sweep`` drives any of them.
"""

__version__ = "0.1.0"
