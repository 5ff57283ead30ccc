"""Scenario files: the only reader of YAML. Validated with pydantic, human units parsed; every error becomes one
``ScenarioError`` line naming the file, the key and the value.

One module per section: ``values`` (units, bounds, sweeps, dtypes, budgets), ``names`` (algorithms and
engines by name), ``network`` (``topology``), ``training``, ``disturbances`` (``stragglers``, ``faults``),
``model`` (the whole scenario and its points), ``load`` (files, bundled names, parsed data).
"""

from .values import (  # noqa: F401
    BIAS_SCENARIO,
    Bandwidth,
    BudgetSpec,
    Count,
    DEFAULT_SCENARIO,
    DType,
    FlopRate,
    ITEMSIZE,
    Latency,
    MAX_COUNT,
    MAX_FACTOR,
    MAX_SWEEP_POINTS,
    MAX_WORKERS,
    VALIDATE_UP_TO,
    WorkerCount,
    sweep_values,
)
from .names import (  # noqa: F401
    NCCL_ALGORITHMS,
    NCCL_AUTO,
    NCCL_COLLECTIVES,
    NCCL_TESTS_NAMES,
    collective_kind,
)
from .network import (  # noqa: F401
    LinkOverride,
    TopologySpec,
    expand_topology,
)
from .workload import WorkloadSpec, LayerSpec  # noqa: F401
from .training import (  # noqa: F401
    ComputeSpec,
    OptimizerSpec,
    TrainingSpec,
)
from .disturbances import (  # noqa: F401
    Crash,
    FaultSpec,
    Jitter,
    LinkDown,
    LinkSpeed,
    StragglerSpec,
)
from .model import (  # noqa: F401
    ExperimentScenario,
    RunSpec,
    Scenario,
)
from .load import (  # noqa: F401
    bundled,
    load,
    load_bundled,
    parse,
)
