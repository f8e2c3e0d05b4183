@_exported import IPC
@_exported import IPCTransport
