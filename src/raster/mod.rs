//! GDAL rasters in and out: tiles read from any GDAL dataset (`input`), area masks (`mask`),
//! cropping and resampling to the model's ground resolution through GDAL (`resample`), and
//! all-or-nothing GeoTIFF outputs (`output`), and window outputs joined into one (`mosaic`).
//! `gdal` is the one module with raw GDAL calls outside `ffi/`, behind small safe functions.

pub mod gdal;
pub mod input;
pub mod mask;
pub mod mosaic;
pub mod output;
pub mod quicklook;
pub mod resample;
