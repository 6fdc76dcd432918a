"""What defines a SISA training, as JSON values and importable references (no torch needed here).

A verifier must rebuild the model, optimizer, features and step from the manifest alone, so each is a
:class:`Ref`: ``module:qualname`` plus keyword arguments. A callable passed in is turned into one if it
can be imported again by that name (a lambda or a function defined inside another cannot).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from disgorge.errors import InputError

Task = Literal["classification", "regression"]
AGGREGATION: dict[str, str] = {"classification": "majority_vote", "regression": "mean"}
"""Per task, how shard outputs combine (see docs/unlearning.md for why)."""


@dataclass(frozen=True, slots=True)
class Ref:
    target: str
    args: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, fn: Ref | str | Callable[..., Any], **args: Any) -> Ref:
        if isinstance(fn, Ref):
            return cls(fn.target, {**fn.args, **args})
        if isinstance(fn, str):
            target = fn
        else:
            module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
            if not module or "<" in qualname:
                raise InputError(
                    f"{qualname or fn!r} cannot be recorded for replay: it is not importable by name",
                    hint="define it at the top level of a module and pass it (or 'module:name')",
                )
            target = f"{module}:{qualname}"
        ref = cls(target, dict(args))
        ref.resolve()
        return ref

    def resolve(self) -> Callable[..., Any]:
        module, sep, qualname = self.target.partition(":")
        if not sep or not module or not qualname:
            raise InputError(f"reference {self.target!r} is not 'module:name'")
        try:
            obj: Any = importlib.import_module(module)
            for part in qualname.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as exc:
            raise InputError(
                f"reference {self.target!r} cannot be imported ({exc})",
                hint="run from where that module imports (or set PYTHONPATH)",
            ) from exc
        if not callable(obj):
            raise InputError(f"reference {self.target!r} is not callable")
        return obj  # type: ignore[no-any-return]

    def __call__(self, *args: Any) -> Any:
        return self.resolve()(*args, **self.args)

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "args": self.args}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Ref:
        return cls(str(value["target"]), dict(value.get("args") or {}))


@dataclass(frozen=True, slots=True)
class Recipe:
    """How one shard is trained: ``model(**args) -> nn.Module``, ``optimizer(params, **args)``,
    ``features(data: bytes, meta: dict, **args) -> (x, y)``, ``step(model, opt, x, y, task, **args)``."""

    model: Ref
    optimizer: Ref = field(default_factory=lambda: Ref("disgorge.unlearning.recipes:adam", {"lr": 0.01}))
    features: Ref = field(default_factory=lambda: Ref("disgorge.unlearning.recipes:image_pixels"))
    step: Ref = field(default_factory=lambda: Ref("disgorge.unlearning.recipes:supervised_step"))
    task: Task = "classification"

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model.to_json(),
            "optimizer": self.optimizer.to_json(),
            "features": self.features.to_json(),
            "step": self.step.to_json(),
            "task": self.task,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Recipe:
        return cls(
            Ref.from_json(value["model"]),
            Ref.from_json(value["optimizer"]),
            Ref.from_json(value["features"]),
            Ref.from_json(value["step"]),
            value["task"],
        )


@dataclass(frozen=True, slots=True)
class SisaConfig:
    """S shards, R slices; slice r trains ``epochs`` epochs on the union of slices 0..r."""

    shards: int
    slices: int = 1
    seed: int = 0
    epochs: int = 1
    batch_size: int = 32
    threads: int = 1

    def __post_init__(self) -> None:
        for name in ("shards", "slices", "epochs", "batch_size", "threads"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise InputError(f"SISA {name} must be a positive integer, got {value!r}")
        if self.shards > 1024 or self.slices > 256:
            raise InputError(
                f"{self.shards} shards x {self.slices} slices is more than supported (1024 x 256)"
            )

    def to_json(self) -> dict[str, Any]:
        return {
            "shards": self.shards,
            "slices": self.slices,
            "seed": self.seed,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "threads": self.threads,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> SisaConfig:
        return cls(
            **{k: int(value[k]) for k in ("shards", "slices", "seed", "epochs", "batch_size", "threads")}
        )
