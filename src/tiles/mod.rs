//! XYZ tile pyramids (lands with issue 6).
