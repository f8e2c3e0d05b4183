/// Constants of the mailstack IPC protocol. The schema is `ipc.proto` beside this file.
public enum IPCProtocol {
    /// Bumped on any incompatible change of `ipc.proto`; exchanged in the hello frames.
    public static let version: UInt32 = 2
}

/// Limits of the IPC protocol. Each is a named constant with the reason for its value.
public enum IPCLimits {
    /// Default cap on one frame's payload: 1 MiB. Requests and replies are small (an address, a
    /// decision); only streamed bodies are large, and they travel as chunks well below this.
    public static let defaultMaxFrame = 1 << 20
    /// Largest data carried by one StreamChunk: 64 KiB, so that a chunk plus its envelope fits in
    /// every frame cap we allow and a several-MB body takes tens of frames, not thousands.
    public static let maxChunk = 64 * 1024
    /// Smallest frame cap a configuration may set: a chunk and its envelope must fit.
    public static let minMaxFrame = maxChunk + 1024
    /// Octets of the length prefix.
    public static let lengthPrefix = 4
}

/// The names services announce in their hello frame.
public enum IPCServiceName {
    public static let smtpIn = "smtp-in"
    public static let relayPolicy = "relay-policy"
    public static let pop3 = "pop3"
    public static let dracRegistry = "drac-registry"
    public static let queue = "queue"
    public static let smtpfeedOut = "smtpfeed-out"
    public static let localDelivery = "local-delivery"
    public static let admin = "mailstack"
}
