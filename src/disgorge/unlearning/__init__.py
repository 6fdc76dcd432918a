"""Exact unlearning with SISA training inside the catalog (needs the ``disgorge[torch]`` extra).

Train a registered dataset version as S shards of R slices (:class:`SisaTrainer`); forget members by
retraining only their shards from the checkpoint before their slice (:func:`plan_forget`,
:func:`execute_forget`); prove the retrain equals a fresh one bit for bit (:func:`verify_exact`).
The names load lazily: planning reads JSON only and does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from disgorge.unlearning.ensemble import SisaEnsemble
    from disgorge.unlearning.forget import ForgetPlan, ForgetResult, ShardRetrain, execute_forget, plan_forget
    from disgorge.unlearning.layout import Manifest, load_ensemble
    from disgorge.unlearning.serialize import weight_hash
    from disgorge.unlearning.spec import Recipe, Ref, SisaConfig
    from disgorge.unlearning.trainer import Ensemble, SisaTrainer
    from disgorge.unlearning.verify import VerifyReport, verify_exact

_WHERE = {
    "SisaEnsemble": "disgorge.unlearning.ensemble",
    "ForgetPlan": "disgorge.unlearning.forget",
    "ForgetResult": "disgorge.unlearning.forget",
    "ShardRetrain": "disgorge.unlearning.forget",
    "execute_forget": "disgorge.unlearning.forget",
    "plan_forget": "disgorge.unlearning.forget",
    "Manifest": "disgorge.unlearning.layout",
    "load_ensemble": "disgorge.unlearning.layout",
    "weight_hash": "disgorge.unlearning.serialize",
    "Recipe": "disgorge.unlearning.spec",
    "Ref": "disgorge.unlearning.spec",
    "SisaConfig": "disgorge.unlearning.spec",
    "Ensemble": "disgorge.unlearning.trainer",
    "SisaTrainer": "disgorge.unlearning.trainer",
    "VerifyReport": "disgorge.unlearning.verify",
    "verify_exact": "disgorge.unlearning.verify",
}

__all__ = [
    "Ensemble",
    "ForgetPlan",
    "ForgetResult",
    "Manifest",
    "Recipe",
    "Ref",
    "ShardRetrain",
    "SisaConfig",
    "SisaEnsemble",
    "SisaTrainer",
    "VerifyReport",
    "execute_forget",
    "load_ensemble",
    "plan_forget",
    "verify_exact",
    "weight_hash",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'disgorge.unlearning' has no attribute {name!r}")
