"""The network: topology generators and fabrics (networkx graphs whose edges carry ``bandwidth`` B/s and
``latency`` s; workers are ints 0..n−1, other nodes carry a ``role``), and the fluid max-min network that
moves messages over them in a SimPy environment."""
