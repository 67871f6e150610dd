//! synack under tokio (in progress).
