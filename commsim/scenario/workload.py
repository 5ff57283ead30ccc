"""The ``workload`` section: one training step of a real model — a bundled model or a list of layers — with a
data-parallel strategy, its buckets, gradient accumulation, dtypes, and how long the compute takes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from .. import units
from .values import Count, FlopRate, Latency, _Strict, _as_list, _known, _sweep, _whole_bytes

COMPUTE_DTYPES = ("fp32", "tf32", "bf16", "fp16")
WIRES = ("fp32", "bf16", "fp16", "sign")
WIRE_BYTES = {"fp32": 4, "tf32": 4, "bf16": 2, "fp16": 2}  # a gradient element in the dtype (sign: 1 bit)
DEFAULT_UTILIZATION = 0.4  # of the GPU's peak for the dtype (README: "Training steps of real models")
ADAM_BYTES_PER_PARAM = 28  # Adam in fp32 reads param, grad, m, v (16 B) and writes param, m, v (12 B)
STATE_TENSORS = {"gradient_descent": 0, "sign_descent": 0, "coordinate_descent": 0, "sign_sgd": 0,
                 "momentum": 1, "signum": 1, "adam": 2}
"""fp32 tensors of a parameter's size each optimizer keeps (``optim``'s ``init``: momentum's and signum's
velocity, Adam's m and v); ``spectral_descent`` is absent: its step is an SVD per matrix, not a pass over memory."""
NORM_FIRST = frozenset({"sign_descent", "coordinate_descent"})
"""Optimizers whose update scales by a norm of the whole gradient (‖g‖₁, ‖g‖∞): one more read of g before it."""


def optimizer_bytes_per_param(optimizer: str | None) -> int:
    """Bytes one optimizer step moves per parameter, a memory-bound elementwise pass in fp32: it reads the
    parameter, the gradient and each state tensor and writes the parameter and each state tensor, 4 B each,
    so 4·(3 + 2s) for s state tensors (Adam, s = 2: 28; SGD: 12; momentum, signum: 20), plus 4 for a norm of
    the gradient read first. None (no optimizer named) is Adam."""
    if optimizer is None:
        return ADAM_BYTES_PER_PARAM
    return 4 * (3 + 2 * STATE_TENSORS[optimizer]) + 4 * (optimizer in NORM_FIRST)


def _number(value: Any) -> Any:
    """A number, or its text (a CSV cell: "1.2e9")."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"must be a number, got {value!r}") from None
    return value


class LayerSpec(_Strict):
    """One layer of a user's model: its parameters, forward FLOPs per sample (or token), or measured seconds
    of one micro-batch's forward (and backward, else 2 × forward)."""

    name: str = Field(min_length=1)
    params: Annotated[int, BeforeValidator(units.parse_count), Field(ge=0)]
    flops: Annotated[float, BeforeValidator(_number), Field(ge=0, allow_inf_nan=False)] = 0.0
    forward: Latency | None = None
    backward: Latency | None = None


MAX_LAYERS_FILE = 10_000_000  # bytes of a layers CSV
LAYER_COLUMNS = ("name", "params", "flops", "forward", "backward")


def _layers_file(value: Any) -> Any:
    """``layers: FILE.csv``: a CSV with a header naming some of name, params, flops, forward, backward (e.g. a
    profiler's per-layer export); empty cells are absent values. A list is taken as it is."""
    if not isinstance(value, str):
        return value
    import csv
    from pathlib import Path

    path = Path(value)
    if not path.is_file():
        raise ValueError(f"no such file {value!r}")
    if path.stat().st_size > MAX_LAYERS_FILE:
        raise ValueError(f"{value!r} is over {MAX_LAYERS_FILE // 10**6} MB")
    try:
        rows = list(csv.DictReader(path.read_text(encoding="utf-8").splitlines()))
    except (UnicodeDecodeError, csv.Error) as error:
        raise ValueError(f"{value!r} is not a readable CSV ({error})") from None
    unknown = [column for column in (rows[0] if rows else {}) if column not in LAYER_COLUMNS]
    if not rows or unknown:
        raise ValueError(f"{value!r} needs a header of {', '.join(LAYER_COLUMNS)} and a row per layer"
                         + (f"; unknown column {unknown[0]!r}" if unknown else ""))
    return [{key: cell for key, cell in row.items() if cell not in ("", None)} for row in rows]


def _signs(optimizer: str) -> bool:
    """Whether the optimizer's update is one scale × a sign vector, so 1 bit per element and a scale suffice."""
    import optim

    return optimizer in optim.SIGN_TYPE


def _strategies(value: Any) -> list[Any]:
    from ..training.strategies import STRATEGIES

    return [_known(name, STRATEGIES, "strategy") for name in _as_list(value)]


class WorkloadSpec(_Strict):
    """What one training step computes and communicates (README: "Training steps of real models")."""

    model: str | None = None
    layers: Annotated[list[LayerSpec], BeforeValidator(_layers_file), Field(min_length=1)] | None = None
    per: Literal["sample", "token"] = "sample"  # what a listed layer's FLOPs are per
    tokens_per_sample: Count = 1  # a listed model's sequence length (per: token)
    strategy: Annotated[list[str], BeforeValidator(_strategies), Field(min_length=1)] = ["ddp"]
    bucket_cap: Annotated[list[Annotated[int, BeforeValidator(_whole_bytes)]], _sweep(_whole_bytes),
                          Field(min_length=1)] = [25 * 1024 * 1024]
    first_bucket: Annotated[int, BeforeValidator(_whole_bytes)] = 1024 * 1024
    accumulation: Count = 1
    overlap: bool = True
    batch_per_gpu: Count = 1  # samples (sequences) per micro-step and GPU
    dtype: Literal["fp32", "tf32", "bf16", "fp16"] = "bf16"
    wire: Literal["fp32", "bf16", "fp16", "sign"] | None = None  # default: what the optimizer sends (wire_format)
    optimizer: str | None = None  # an optim optimizer by name: a sign-type one sends signs (wire_format)
    utilization: Annotated[float, Field(gt=0, le=1)] = DEFAULT_UTILIZATION
    peak_flops: FlopRate | None = None  # default: the preset GPU's spec-sheet peak for the dtype
    step_time: Annotated[float, BeforeValidator(units.parse_time), Field(gt=0)] | None = None  # measured 1-GPU step
    optimizer_time: Latency | None = None  # one GPU's optimizer step over the whole model

    @field_validator("model")
    @classmethod
    def _known_model(cls, name: str | None) -> str | None:
        from ..training.architectures import ARCHITECTURES

        return None if name is None else _known(name, ARCHITECTURES, "model")

    @field_validator("optimizer")
    @classmethod
    def _known_optimizer(cls, name: str | None) -> str | None:
        import optim

        return None if name is None else _known(name, sorted(optim.OPTIMIZERS), "optimizer")

    @model_validator(mode="after")
    def _optimizer_timed(self) -> WorkloadSpec:
        if self.optimizer is not None and self.optimizer not in STATE_TENSORS and self.optimizer_time is None:
            raise ValueError(f"workload.optimizer: {self.optimizer!r} takes an SVD per weight matrix, whose time "
                             "commsim does not model; give workload.optimizer_time (one GPU's step)")
        return self

    @model_validator(mode="after")
    def _one_model(self) -> WorkloadSpec:
        if (self.model is None) == (self.layers is None):
            raise ValueError("workload: give either 'model' (a bundled one) or 'layers', not " +
                             ("both" if self.model is not None else "neither"))
        if self.layers is not None and not any(layer.params for layer in self.layers):
            raise ValueError("workload.layers: no layer has parameters; nothing to communicate")
        if self.optimizer is not None and self.wire is not None and (self.wire == "sign") != _signs(self.optimizer):
            sends = ("1-bit signs and one fp32 scale per bucket (its update is one scale × sign(g)); leave wire out"
                     if _signs(self.optimizer) else "the whole gradient (signs cannot give it back); leave wire out "
                                                    "or use fp32, bf16 or fp16")
            raise ValueError(f"workload.wire: {self.wire!r} conflicts with optimizer {self.optimizer!r}, which sends "
                             + sends)
        if self.wire_format == "sign" and set(self.strategy) - {"ddp"}:
            other = next(name for name in self.strategy if name != "ddp")
            key = "workload.wire: 'sign'" if self.wire else f"workload.optimizer: {self.optimizer!r} sends signs"
            raise ValueError(f"{key} (1 bit per element, one fp32 scale per bucket) is a compressed "
                             f"all-reduce of DDP's buckets; strategy {other!r} shards values, use fp32, bf16 or fp16")
        return self

    @property
    def wire_format(self) -> str:
        """How gradients travel: ``wire`` if given; else what the optimizer's update needs — a sign-type
        optimizer (steepest descent under L∞, sign_sgd, signum: update = one scale × sign(g)) 1 bit per element
        and one fp32 scale per bucket, any other (gradient descent under L2, Adam, …) the whole gradient in the
        dtype's width (tf32: fp32)."""
        if self.wire is not None:
            return self.wire
        if self.optimizer is not None and _signs(self.optimizer):
            return "sign"
        return "fp32" if self.dtype == "tf32" else self.dtype

    @property
    def measured(self) -> bool:
        """Whether the compute is known without a GPU's peak (a measured step, or every layer's forward)."""
        return self.step_time is not None or (self.layers is not None and all(
            layer.forward is not None for layer in self.layers))

    def on_wire(self, kind: str, elements: int) -> tuple[int, int]:
        """(elements, bytes each) a call carries: gradients (``allreduce``, ``reduce_scatter``) in the wire
        format — sign: ⌈p/8⌉ + 4 bytes, one bit per element and one fp32 scale —, parameters (``all_gather``)
        in the compute dtype."""
        if kind == "all_gather":
            return elements, WIRE_BYTES[self.dtype]
        if self.wire_format == "sign":
            return -(-elements // 8) + 4, 1
        return elements, WIRE_BYTES[self.wire_format]

    def calls(self, strategy: str, workers: int, bucket_cap: int) -> list[tuple[str, int]]:
        """(kind, elements) of every call of one step, in program order (no compute, no network)."""
        from ..training.strategies import call_sizes

        params = [layer.params for layer in self.architecture().layers]
        return call_sizes(strategy, params, workers, WIRE_BYTES[self.dtype], bucket_cap, self.first_bucket,
                          self.accumulation, self.overlap)

    def architecture(self) -> Any:
        """The model as :class:`~commsim.training.architectures.Architecture`."""
        from ..training.architectures import ARCHITECTURES, Architecture, Layer

        if self.model is not None:
            return ARCHITECTURES[self.model]()
        layers = tuple(Layer(layer.name, layer.params, layer.flops, layer.forward, layer.backward)
                       for layer in self.layers or ())
        return Architecture("layers", layers, self.per, self.tokens_per_sample if self.per == "token" else 1)
