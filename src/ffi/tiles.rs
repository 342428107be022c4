//! C API of `rastrum tiles` (lands with issue 6).
