"""NCCL's collectives as NCCL runs them, beside the textbook algorithms they build on: ``table`` (NCCL's
constants, each with its source line), ``model`` (NCCL's cost model, channel search, p2p setup and the
plan of one call), ``ring`` (all-reduce, reduce-scatter and all-gather on NCCL's channelled rings),
``tree`` (NCCL's pipelined tree all-reduce), ``nvls`` (NVLS all-reduce through a node's NVSwitch), ``pipeline`` (broadcast and reduce along the rings, in
NCCL's chunks) and ``p2p`` (the personalized all-to-all as NCCL's point-to-point sends), each a schedule
maker with its message sizes by formula. Nothing here registers an algorithm; the textbook modules never
import this package."""
