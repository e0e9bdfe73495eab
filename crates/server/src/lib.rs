//! coffer-server
