"""Record-level lineage: downstream impact closures and a model's data bill of materials."""

from disgorge.lineage.bom import BillOfMaterials, bill_of_materials
from disgorge.lineage.impact import Closure, Impact, Scope, closure, impact

__all__ = ["BillOfMaterials", "Closure", "Impact", "Scope", "bill_of_materials", "closure", "impact"]
