//! C API of `rastrum eval` (lands with issue 6).
