"""Recipients of erased data: delivery channels bound by an admin, notices written and delivered
through them by the executor, and acknowledgements signed by the recipients' own keys."""

from disgorge.notices.channels import DeliveryFailed, deliver
from disgorge.notices.records import Records
from disgorge.notices.service import NoticeSigner, Notifier, Recipients, load_ack, record_ack

__all__ = [
    "DeliveryFailed",
    "NoticeSigner",
    "Notifier",
    "Recipients",
    "Records",
    "deliver",
    "load_ack",
    "record_ack",
]
