//! `rastrum eval`: a prediction raster scored against a reference raster (lands with issue 6).
