"""Record-level lineage: downstream impact closures and a model's data bill of materials."""

from disgorge.lineage.bom import BillOfMaterials, bill_of_materials
from disgorge.lineage.impact import Impact, Scope, impact

__all__ = ["BillOfMaterials", "Impact", "Scope", "bill_of_materials", "impact"]
