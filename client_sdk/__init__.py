"""The caresync device SDK: an asyncio device with a local store and an outbox."""

from client_sdk.device import Device, DeviceStopped, RequestFailed, SyncSummary

__all__ = ["Device", "DeviceStopped", "RequestFailed", "SyncSummary"]
