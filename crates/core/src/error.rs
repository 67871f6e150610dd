//! Errors as a Linux program sees them: each one maps to its errno.

use core::fmt;

/// An error from a socket call or a failed connection, carrying the errno a Linux program
/// would see. Connection errors stick: after a connection fails, every call on it returns
/// the same error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// `EAGAIN`: the call would block (no data, no buffer space, empty accept queue).
    WouldBlock,
    /// `ECONNREFUSED`: the peer answered the SYN with a RST.
    ConnectionRefused,
    /// `ECONNRESET`: the peer reset a synchronized connection, or we reset it on close
    /// with unread data.
    ConnectionReset,
    /// `ETIMEDOUT`: retransmissions (or keepalive probes) went unanswered.
    TimedOut,
    /// `EPIPE`: writing after `shutdown(SHUT_WR)` or after the peer reset the connection.
    BrokenPipe,
    /// `EADDRINUSE`: the local address (or the 4-tuple) is taken.
    AddrInUse,
    /// `EADDRNOTAVAIL`: the local address is not ours, or no ephemeral port is free.
    AddrNotAvailable,
    /// `EINVAL`: an argument or the socket's state does not allow the call.
    InvalidInput,
    /// `ENOTCONN`: the socket is not connected.
    NotConnected,
    /// `EISCONN`: the socket is already connected.
    AlreadyConnected,
    /// `EALREADY`: a connect is already in progress.
    AlreadyInProgress,
    /// `EBADF`: the handle does not name an open socket.
    BadHandle,
    /// `EOPNOTSUPP`: the operation does not apply to this socket (e.g. accept on a
    /// connected socket).
    NotSupported,
    /// `ECONNABORTED`: the connection was aborted (e.g. by our own abort).
    ConnectionAborted,
    /// `ENOPROTOOPT`: unknown socket option; also an ICMP protocol unreachable during
    /// the handshake.
    NoProtocolOption,
    /// `ENETUNREACH`: an ICMP network unreachable (reported after a timeout, or at once
    /// when the code is fatal).
    NetUnreachable,
    /// `EHOSTUNREACH`: an ICMP host unreachable or time exceeded.
    HostUnreachable,
    /// `EHOSTDOWN`: an ICMP "destination host unknown".
    HostDown,
    /// `ENONET`: an ICMP "source host isolated".
    NoNetwork,
    /// `EACCES`: an ICMPv6 "administratively prohibited".
    PermissionDenied,
    /// `EPROTO`: an ICMP parameter problem.
    ProtocolError,
}

impl Error {
    /// The Linux errno value.
    pub fn errno(self) -> i32 {
        match self {
            Error::WouldBlock => 11,
            Error::ConnectionRefused => 111,
            Error::ConnectionReset => 104,
            Error::TimedOut => 110,
            Error::BrokenPipe => 32,
            Error::AddrInUse => 98,
            Error::AddrNotAvailable => 99,
            Error::InvalidInput => 22,
            Error::NotConnected => 107,
            Error::AlreadyConnected => 106,
            Error::AlreadyInProgress => 114,
            Error::BadHandle => 9,
            Error::NotSupported => 95,
            Error::ConnectionAborted => 103,
            Error::NoProtocolOption => 92,
            Error::NetUnreachable => 101,
            Error::HostUnreachable => 113,
            Error::HostDown => 112,
            Error::NoNetwork => 64,
            Error::PermissionDenied => 13,
            Error::ProtocolError => 71,
        }
    }

    /// The errno's symbolic name, as `strace` and packetdrill print it.
    pub fn name(self) -> &'static str {
        match self {
            Error::WouldBlock => "EAGAIN",
            Error::ConnectionRefused => "ECONNREFUSED",
            Error::ConnectionReset => "ECONNRESET",
            Error::TimedOut => "ETIMEDOUT",
            Error::BrokenPipe => "EPIPE",
            Error::AddrInUse => "EADDRINUSE",
            Error::AddrNotAvailable => "EADDRNOTAVAIL",
            Error::InvalidInput => "EINVAL",
            Error::NotConnected => "ENOTCONN",
            Error::AlreadyConnected => "EISCONN",
            Error::AlreadyInProgress => "EALREADY",
            Error::BadHandle => "EBADF",
            Error::NotSupported => "EOPNOTSUPP",
            Error::ConnectionAborted => "ECONNABORTED",
            Error::NoProtocolOption => "ENOPROTOOPT",
            Error::NetUnreachable => "ENETUNREACH",
            Error::HostUnreachable => "EHOSTUNREACH",
            Error::HostDown => "EHOSTDOWN",
            Error::NoNetwork => "ENONET",
            Error::PermissionDenied => "EACCES",
            Error::ProtocolError => "EPROTO",
        }
    }

    /// The error for an errno name such as `"ECONNRESET"`.
    pub fn from_name(name: &str) -> Option<Error> {
        ALL.iter().copied().find(|e| e.name() == name)
    }

    fn description(self) -> &'static str {
        match self {
            Error::WouldBlock => "Resource temporarily unavailable",
            Error::ConnectionRefused => "Connection refused",
            Error::ConnectionReset => "Connection reset by peer",
            Error::TimedOut => "Connection timed out",
            Error::BrokenPipe => "Broken pipe",
            Error::AddrInUse => "Address already in use",
            Error::AddrNotAvailable => "Cannot assign requested address",
            Error::InvalidInput => "Invalid argument",
            Error::NotConnected => "Transport endpoint is not connected",
            Error::AlreadyConnected => "Transport endpoint is already connected",
            Error::AlreadyInProgress => "Operation already in progress",
            Error::BadHandle => "Bad file descriptor",
            Error::NotSupported => "Operation not supported",
            Error::ConnectionAborted => "Software caused connection abort",
            Error::NoProtocolOption => "Protocol not available",
            Error::NetUnreachable => "Network is unreachable",
            Error::HostUnreachable => "No route to host",
            Error::HostDown => "Host is down",
            Error::NoNetwork => "Machine is not on the network",
            Error::PermissionDenied => "Permission denied",
            Error::ProtocolError => "Protocol error",
        }
    }
}

const ALL: [Error; 21] = [
    Error::WouldBlock,
    Error::ConnectionRefused,
    Error::ConnectionReset,
    Error::TimedOut,
    Error::BrokenPipe,
    Error::AddrInUse,
    Error::AddrNotAvailable,
    Error::InvalidInput,
    Error::NotConnected,
    Error::AlreadyConnected,
    Error::AlreadyInProgress,
    Error::BadHandle,
    Error::NotSupported,
    Error::ConnectionAborted,
    Error::NoProtocolOption,
    Error::NetUnreachable,
    Error::HostUnreachable,
    Error::HostDown,
    Error::NoNetwork,
    Error::PermissionDenied,
    Error::ProtocolError,
];

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.description())
    }
}

impl std::error::Error for Error {}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> std::io::Error {
        std::io::Error::from_raw_os_error(e.errno())
    }
}

/// Result of a socket call.
pub type Result<T> = core::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_errnos_are_linux() {
        for e in ALL {
            assert_eq!(Error::from_name(e.name()), Some(e));
        }
        assert_eq!(Error::ConnectionRefused.errno(), 111);
        let io: std::io::Error = Error::ConnectionReset.into();
        assert_eq!(io.kind(), std::io::ErrorKind::ConnectionReset);
    }
}
