@_exported import IPC
@_exported import IPCTransport
@_exported import MailstackConfig
@_exported import MailstackSystemd
@_exported import ServiceLifecycle
@_exported import Logging
