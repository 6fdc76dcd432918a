"""Disgorgement: plan, approve, execute and verify an erasure across files, S3 and Delta tables."""

from disgorge.erasure.execute import ExecuteOptions, ExecutionReport
from disgorge.erasure.plan import PlanRequest, build_plan
from disgorge.erasure.service import Erasures
from disgorge.erasure.verify import VerificationReport

__all__ = ["Erasures", "ExecuteOptions", "ExecutionReport", "PlanRequest", "VerificationReport", "build_plan"]
