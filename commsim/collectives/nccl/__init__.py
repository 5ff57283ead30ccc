"""NCCL's collectives as NCCL runs them, beside the textbook algorithms they build on: ``table`` (NCCL's
constants, each with its source line), ``model`` (NCCL's cost model, channel search and the plan of one
call), ``ring`` and ``tree`` (NCCL's channelled ring and pipelined tree as schedules). Nothing here
registers an algorithm; the textbook modules never import this package."""
