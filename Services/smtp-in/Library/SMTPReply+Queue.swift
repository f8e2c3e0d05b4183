import IPC
import SMTP

extension SMTPReply {
    /// The reply to a client whose message the queue did not take: always temporary (the client
    /// keeps the message and tries again, nothing was acknowledged). A full spool (the queue's
    /// INSUFFICIENT_STORAGE: under queue.min_free, or a write failed with ENOSPC) is said as
    /// RFC 3463's X.3.1 "mail system full", as sendmail's 452 4.3.1.
    static func queueFailure(_ error: Error) -> SMTPReply {
        if case let .remote(code, _)? = error as? IPCError, code == Mailstack_Ipc_Error.Code.insufficientStorage.rawValue {
            return SMTPReply(452, "4.3.1", "Insufficient system storage")
        }
        return SMTPReply(451, "4.3.0", "Temporary system failure; message not accepted, try again later")
    }
}
