"""The caresync device SDK: an asyncio device with a local store and an outbox."""

from client_sdk.device import Device, SyncSummary
from client_sdk.enrolment import Enrolled, EnrolmentRefused, enrol
from client_sdk.errors import CleanSyncRefused, DeviceStopped, RequestFailed

__all__ = [
    "CleanSyncRefused",
    "Device",
    "DeviceStopped",
    "Enrolled",
    "EnrolmentRefused",
    "RequestFailed",
    "SyncSummary",
    "enrol",
]
