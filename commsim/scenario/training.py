"""The ``training`` section: model, dataset, optimizers (each with its wire format), steps, compute."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from .values import _Strict, _as_list, _known
from .values import Count, FlopRate


class OptimizerSpec(BaseModel):
    """An optimizer by name, its wire format, and its keyword arguments (``alpha``, ``b1``, ...)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str
    wire: Literal["fp64", "fp32", "fp16", "sign"] = "fp32"
    schedule: Literal["constant", "inverse_sqrt"] = "constant"
    label: str | None = None

    @property
    def kwargs(self) -> dict[str, Any]:
        """The optimizer's own arguments, the step size wrapped in the schedule."""
        import optim

        kwargs = dict(self.model_extra or {})
        for step_size in ("alpha", "learning_rate"):
            if step_size in kwargs and self.schedule == "inverse_sqrt":
                kwargs[step_size] = optim.inverse_sqrt(kwargs[step_size])
        return kwargs

    @property
    def title(self) -> str:
        """How tables and plots name this optimizer."""
        return self.label or (self.name if self.wire == "fp32" else f"{self.name}/{self.wire}")

    def build(self) -> Any:
        """A fresh ``optim.GradientTransformation``."""
        import optim

        return optim.get(self.name, **self.kwargs)

    @model_validator(mode="after")
    def _buildable(self) -> OptimizerSpec:
        import math

        import optim

        for step_size in ("alpha", "learning_rate"):
            value = (self.model_extra or {}).get(step_size)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value) or value <= 0):
                raise ValueError(f"{step_size} must be a finite number > 0, got {value!r}")

        _known(self.name, sorted(optim.OPTIMIZERS), "optimizer")
        if self.wire == "sign" and self.name not in optim.SIGN_TYPE:
            raise ValueError(
                f"wire 'sign' carries only sign(g) and one scale; optimizer {self.name!r} needs the whole gradient "
                f"(sign-type optimizers: {', '.join(sorted(optim.SIGN_TYPE))})"
            )
        try:
            self.build()
        except (TypeError, ValueError) as error:
            raise ValueError(f"optimizer {self.name!r}: {error}") from None
        return self


class ComputeSpec(_Strict):
    """How fast each worker computes."""

    flops_per_second: FlopRate = 10e12


class TrainingSpec(_Strict):
    """What the workers train, on which data, with which optimizers."""

    model: Literal["linear_regression", "logistic_regression", "mlp"]
    dataset: str = "synthetic"
    samples: Count = 4096
    features: Count = 20
    classes: Annotated[int, Field(ge=2)] = 2
    hidden: Count = 32
    steps: Count
    batch_per_worker: Count = 32
    optimizer: Annotated[list[OptimizerSpec], BeforeValidator(_as_list), Field(min_length=1)]
    compute: ComputeSpec = ComputeSpec()

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, name: str) -> str:
        from ..training.datasets import DATASETS

        return _known(name, DATASETS, "dataset")

    @model_validator(mode="after")
    def _model_fits_dataset(self) -> TrainingSpec:
        if self.model == "linear_regression" and self.dataset != "synthetic":
            raise ValueError(
                f"model: linear_regression needs a regression dataset; {self.dataset!r} is a classification "
                "dataset (use dataset: synthetic, or a classifier)"
            )
        return self
