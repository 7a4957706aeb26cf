//! Unit tests that need private access to the FFI layer.
