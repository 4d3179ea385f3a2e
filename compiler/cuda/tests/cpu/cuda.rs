//! Cases particular to this backend.
