"""Typed config nodes, and the validation that turns a composed Hydra config into them.

Hydra composes plain YAML (`conf/`); this module checks every node against a dataclass so that a
wrong key or type fails at start with one line naming the key (spec/README.md; lessons.md, "Harness
fragility"). Attention and task nodes are checked against the schema that their registry entry
declares, so a variant's own hyperparameters are typed too.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .errors import ConfigError, did_you_mean


@dataclass
class ModelConfig:
    """Encoder classifier size (conf/model/). `qkv_dim` defaults to `dim` (the LRA configs set both)."""

    name: str
    dim: int = 64
    depth: int = 2
    num_heads: int = 4
    qkv_dim: Optional[int] = None
    mlp_dim: int = 128
    dropout: float = 0.1
    pooling: str = "mean"
    positions: str = "learned"
    causal: bool = False
    two_tower_combine: str = "paper"
    qkv_bias: bool = True  # a bias on the q/k/v and output projections; LRA's have none (its recipes set false)

    def __post_init__(self):
        _choice("model.pooling", self.pooling, ("mean", "cls", "last", "none"))
        _choice("model.positions", self.positions, ("learned", "sinusoidal", "none"))
        _choice("model.two_tower_combine", self.two_tower_combine, ("paper", "concat"))
        for key in ("dim", "depth", "num_heads", "mlp_dim") + (("qkv_dim",) if self.qkv_dim is not None else ()):
            _at_least(f"model.{key}", getattr(self, key), 1, "a positive integer")
        _in_range("model.dropout", self.dropout, 0.0, 1.0, "a probability in [0, 1)")
        qkv = self.qkv_dim or self.dim
        if qkv % self.num_heads:
            raise ConfigError(f"model.qkv_dim: {qkv} must be divisible by model.num_heads={self.num_heads}")
        if self.causal and self.pooling == "cls":
            raise ConfigError("model.pooling: 'cls' puts the summary token first, where a causal model "
                              "sees nothing; use pooling=mean with model.causal=true")

    @property
    def dim_head(self) -> int:
        return (self.qkv_dim or self.dim) // self.num_heads


COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


@dataclass
class TrainerConfig:
    """Optimisation and evaluation (conf/trainer/). AdamW with linear warmup then `schedule` decay.

    `compile_mode` is torch.compile's mode: `reduce-overhead` adds CUDA graphs (launch-bound models).
    `precision: auto`, `compile: null` and `prefetch: null` mean bf16 autocast, torch.compile and a
    background input thread on CUDA (where LRA-size models are launch-bound), and fp32, eager and
    in-loop batching on a CPU (measured: the extra thread made a 2-core CPU run 1.6x slower).
    """

    max_steps: int = 300
    batch_size: int = 32
    accumulate_grad_batches: int = 1  # a step's batch_size examples in this many passes (same update, less memory)
    lr: float = 1e-3
    weight_decay: float = 0.01
    beta1: float = 0.9
    beta2: float = 0.98
    warmup_steps: int = 30
    schedule: str = "cosine"
    grad_clip: float = 1.0
    eval_every: int = 100
    checkpoint_every: int = 0
    eval_max_batches: Optional[int] = None
    device: str = "auto"
    precision: str = "auto"
    compile: Optional[bool] = None
    compile_mode: str = "default"
    prefetch: Optional[bool] = None
    num_threads: Optional[int] = None
    log_every: int = 10
    progress: bool = True
    chance_margin: float = 0.01

    def __post_init__(self):
        _choice("trainer.schedule", self.schedule, ("cosine", "linear", "rsqrt", "constant"))
        _choice("trainer.precision", self.precision, ("auto", "fp32", "bf16"))
        _choice("trainer.compile_mode", self.compile_mode, COMPILE_MODES)
        _choice("trainer.device", self.device, ("auto", "cpu", "cuda"), prefix_ok=("cuda:",))
        for key in ("max_steps", "batch_size", "eval_every", "log_every", "accumulate_grad_batches"):
            _at_least(f"trainer.{key}", getattr(self, key), 1, "a positive integer")
        for key in ("eval_max_batches", "num_threads"):
            if getattr(self, key) is not None:
                _at_least(f"trainer.{key}", getattr(self, key), 1, "a positive integer or null")
        _at_least("trainer.checkpoint_every", self.checkpoint_every, 0, "0 (= eval_every) or a positive integer")
        for key in ("warmup_steps", "weight_decay", "grad_clip", "chance_margin"):
            _at_least(f"trainer.{key}", getattr(self, key), 0, "a non-negative number")
        if self.batch_size % self.accumulate_grad_batches:
            raise ConfigError(f"trainer.accumulate_grad_batches: expected a divisor of trainer.batch_size="
                              f"{self.batch_size}, got {self.accumulate_grad_batches}")
        if not self.lr > 0:
            raise ConfigError(f"trainer.lr: expected a positive learning rate, got {self.lr}")
        for key in ("beta1", "beta2"):
            _in_range(f"trainer.{key}", getattr(self, key), 0.0, 1.0, "a value in [0, 1)")


@dataclass
class LoggerConfig:
    """Experiment tracking (conf/logger/). `backend: none` keeps only the local record."""

    backend: str = "wandb"
    project: str = "lra-bench"
    entity: Optional[str] = None
    mode: str = "offline"

    def __post_init__(self):
        _choice("logger.backend", self.backend, ("wandb", "none"))
        _choice("logger.mode", self.mode, ("offline", "online", "disabled"))


@dataclass
class PathsConfig:
    root: str
    data_dir: str
    store_dir: str
    output_dir: str
    checkpoint_dir: str


@dataclass
class RecipeConfig:
    """Which published recipe a run follows (conf/experiment/), recorded so a row says its preset."""

    name: str = "default"
    version: str = "1"
    source: str = "lra-bench defaults"


@dataclass
class RunConfig:
    """A whole run: the validated form of conf/train.yaml after Hydra composition."""

    seed: int
    task: Any
    attention: Any
    model: ModelConfig
    trainer: TrainerConfig
    logger: LoggerConfig
    paths: PathsConfig
    recipe: RecipeConfig = field(default_factory=RecipeConfig)
    rerun: bool = False


def _at_least(key: str, value, low, expected: str):
    if value < low:
        raise ConfigError(f"{key}: expected {expected}, got {value}")


def _in_range(key: str, value: float, low: float, high: float, expected: str):
    """`low <= value < high`, else one line naming the key."""
    if not low <= value < high:
        raise ConfigError(f"{key}: expected {expected}, got {value}")


def _choice(key: str, value: str, allowed: tuple, prefix_ok: tuple = ()):
    if value in allowed or any(value.startswith(p) for p in prefix_ok):
        return
    raise ConfigError(f"{key}: expected one of {', '.join(allowed)}, got '{value}'{did_you_mean(value, allowed)}")


def validate_node(node: Any, schema: type, key: str):
    """Check a config node against a dataclass; return the dataclass instance or raise ConfigError.

    Unknown keys are rejected with the list of expected ones; values are converted where OmegaConf
    can do it losslessly ("3" -> 3) and rejected otherwise, naming `key.field`.
    """
    if not isinstance(node, (dict, DictConfig)):
        raise ConfigError(f"{key}: expected a mapping with keys {_field_names(schema)}, got {node!r}")
    data = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
    fields = {f.name: f for f in dataclasses.fields(schema)}
    for name in data:
        if name not in fields:
            raise ConfigError(f"{key}.{name}: unknown key; expected one of {_field_names(schema)}"
                              f"{did_you_mean(name, fields)}")
    missing = [n for n, f in fields.items() if n not in data and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"{key}.{missing[0]}: required key is missing")
    hints = typing.get_type_hints(schema)
    values = {}
    for name, value in data.items():
        values[name] = _convert(value, hints[name], f"{key}.{name}")
    try:
        return schema(**values)
    except ConfigError:
        raise
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{key}: {err}") from None


def _convert(value: Any, hint: Any, key: str):
    """Convert one value to its annotated type through OmegaConf's own rules, naming `key` on failure."""
    if dataclasses.is_dataclass(hint):
        return validate_node(value, hint, key)
    if hint is Any:
        return value
    wrapper = dataclasses.make_dataclass("_Check", [("value", hint)])
    try:
        checked = OmegaConf.merge(OmegaConf.structured(wrapper), {"value": value})
    except OmegaConfBaseException:
        expected = getattr(hint, "__name__", str(hint).replace("typing.", ""))
        raise ConfigError(f"{key}: expected {expected}, got {value!r} ({type(value).__name__})") from None
    return OmegaConf.to_container(checked)["value"]


def _field_names(schema: type) -> str:
    return ", ".join(f.name for f in dataclasses.fields(schema))


def validate_run_config(cfg: DictConfig) -> RunConfig:
    """Validate the whole composed config, including the attention and task nodes via their registries."""
    from .attention import attention_schema
    from .data import task_schema

    data = OmegaConf.to_container(cfg, resolve=True)
    for key in ("task", "attention"):
        if not isinstance(data.get(key), dict) or "name" not in data[key]:
            raise ConfigError(f"{key}: expected a config group choice such as {key}=<name>, got {data.get(key)!r}")
    run = validate_node({k: v for k, v in data.items() if k not in ("task", "attention")} |
                        {"task": None, "attention": None}, RunConfig, "config")
    run.attention = validate_node(data["attention"], attention_schema(data["attention"]["name"]), "attention")
    run.task = validate_node(data["task"], task_schema(data["task"].get("family", "")), "task")
    if getattr(run.task, "TOKEN_LABELS", False) and run.model.pooling != "none":
        raise ConfigError(f"model.pooling: task {run.task.name} has a target per token; expected model.pooling=none "
                          f"(e.g. model=small_causal), got '{run.model.pooling}'")
    return run


def _work_root() -> Path:
    """Where data (tasks/), the results store (results/) and outputs/ go: $LRA_BENCH_HOME (or the older
    $LRA_BENCH_ROOT); else, for a source checkout, the checkout (as before the package carried its configs);
    else the current directory. Never inside site-packages."""
    for variable in ("LRA_BENCH_HOME", "LRA_BENCH_ROOT"):
        if os.environ.get(variable):
            return Path(os.environ[variable]).resolve()
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").is_file() and "site-packages" not in checkout.parts:
        return checkout
    return Path.cwd()


PROJECT_ROOT = _work_root()
# Shipped with the package (a wheel holds them): the configs and the published reference tables.
CONF_DIR = Path(str(importlib.resources.files("lra_bench") / "conf"))
REFERENCE_DIR = Path(str(importlib.resources.files("lra_bench") / "reference"))

if not OmegaConf.has_resolver("lra_root"):
    OmegaConf.register_new_resolver("lra_root", lambda: str(PROJECT_ROOT))
