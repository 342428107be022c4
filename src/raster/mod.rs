//! GDAL rasters in and out: a raster opened and described (`info`), tiles read from any GDAL
//! dataset (`input`), area masks (`mask`), cropping and resampling to the model's ground
//! resolution through GDAL (`resample`), all-or-nothing GeoTIFF outputs (`output`, and `place`:
//! a raster and its sidecar moved into place together), window outputs joined into one
//! (`mosaic`), bands of several files stacked into one VRT (`stack`), PNG quicklooks
//! (`quicklook`) and disk space before a run and after a failed write (`space`). `gdal` is the one module
//! with raw GDAL calls outside `ffi/`, behind small safe functions.

pub mod gdal;
pub mod info;
pub mod input;
pub mod mask;
pub mod mosaic;
pub mod output;
pub mod place;
pub mod quicklook;
pub mod resample;
pub mod space;
pub mod stack;
pub mod vector;
