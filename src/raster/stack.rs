//! `rastrum stack`: one raster from bands of several files, in the model's channel order, as a
//! VRT (nothing copied). Scenes often come one band per file (Landsat's `B2.TIF`...`B7.TIF`,
//! Sentinel-2's `B02.jp2`...) while a model wants them as the channels of one raster.
//!
//! The stack has the grid of its first band's file: every other file must be in the same CRS,
//! north up, and is placed by its own georeference (a 20 m band over a 10 m grid is resampled by
//! the VRT, `resampling`), so files of other extents or resolutions line up by position, not by
//! pixel index. Each band keeps its data type, nodata and description (else its file's name).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use gdal::{Dataset, Metadata};

use crate::atomic;
use crate::error::{Error, Result};
use crate::raster::info::open;
use crate::raster::output::check_output;

/// One band of the stack: a file and its 1-based band.
#[derive(Debug, Clone, PartialEq)]
pub struct StackBand {
    pub path: PathBuf,
    pub band: usize,
}

impl StackBand {
    /// `PATH` (band 1) or `PATH:N`. A path that exists as given is a path, whatever it ends with.
    pub fn parse(spec: &str) -> Result<StackBand> {
        if !Path::new(spec).exists() {
            if let Some((path, n)) = spec.rsplit_once(':') {
                if let Ok(band) = n.parse::<usize>() {
                    return Ok(StackBand { path: path.into(), band });
                }
            }
        }
        Ok(StackBand { path: spec.into(), band: 1 })
    }
}

/// A band's source as the VRT places it.
struct Source {
    path: PathBuf,
    band: usize,
    size: (usize, usize),
    /// Pixel offset and size of the source in the stack's grid.
    dst: [f64; 4],
    data_type: String,
    nodata: Option<f64>,
    description: String,
}

/// Writes the VRT stacking `bands` (in this order) to `output`; `resampling` (nearest, bilinear,
/// cubic, ...) applies to sources of another resolution. Returns the stack's size.
pub fn stack(bands: &[StackBand], output: &Path, resampling: &str) -> Result<(usize, usize)> {
    if bands.is_empty() {
        return Err(Error::invalid("rastrum stack: no input band"));
    }
    if output.extension().is_none_or(|e| !e.eq_ignore_ascii_case("vrt")) {
        return Err(Error::invalid(format!("{}: the stack is a VRT, name it .vrt", output.display())));
    }
    let inputs: Vec<(&str, PathBuf)> = bands.iter().map(|b| ("an input of the stack", b.path.clone())).collect();
    check_output(output, &inputs)?;
    let first = open(&bands[0].path)?;
    let gt = first.geo_transform().map_err(|_| {
        Error::raster(&bands[0].path, "it has no geotransform: nothing places the other files against it")
    })?;
    if gt[2] != 0.0 || gt[4] != 0.0 {
        return Err(Error::raster(&bands[0].path, "its geotransform is rotated: stacks are north up"));
    }
    let size = first.raster_size();
    let crs = first.spatial_ref().ok();
    let mut sources = Vec::new();
    for b in bands {
        let ds = open(&b.path)?;
        if let (Some(a), Ok(other)) = (&crs, ds.spatial_ref()) {
            if a != &other {
                return Err(Error::raster(
                    &b.path,
                    format!("its CRS differs from {}'s: reproject it first", bands[0].path.display()),
                ));
            }
        }
        sources.push(source(&ds, b, &gt)?);
    }
    let xml = vrt(&first, size, &gt, &sources, resampling);
    atomic::write_with(output, |temp| std::fs::write(temp, &xml).map_err(|e| Error::io(output, e.to_string())))?;
    Ok(size)
}

fn source(ds: &Dataset, b: &StackBand, gt: &[f64; 6]) -> Result<Source> {
    let count = ds.raster_count();
    if b.band == 0 || b.band > count {
        return Err(Error::raster(&b.path, format!("has {count} band(s); band {} was asked for", b.band)));
    }
    let sgt = ds.geo_transform().map_err(|_| Error::raster(&b.path, "it has no geotransform: it cannot be placed"))?;
    if sgt[2] != 0.0 || sgt[4] != 0.0 {
        return Err(Error::raster(&b.path, "its geotransform is rotated: stacks are north up"));
    }
    let band = ds.rasterband(b.band).map_err(|e| Error::raster(&b.path, e.to_string()))?;
    let (w, h) = ds.raster_size();
    let dst =
        [(sgt[0] - gt[0]) / gt[1], (sgt[3] - gt[3]) / gt[5], w as f64 * sgt[1] / gt[1], h as f64 * sgt[5] / gt[5]];
    Ok(Source {
        path: std::fs::canonicalize(&b.path).unwrap_or_else(|_| b.path.clone()),
        band: b.band,
        size: (w, h),
        dst,
        data_type: band.band_type().name(),
        nodata: band.no_data_value(),
        description: band.description().unwrap_or_default(),
    })
}

/// The VRT's XML.
fn vrt(first: &Dataset, (w, h): (usize, usize), gt: &[f64; 6], sources: &[Source], resampling: &str) -> String {
    let mut x = String::new();
    let _ = writeln!(x, "<VRTDataset rasterXSize=\"{w}\" rasterYSize=\"{h}\">");
    if let Ok(srs) = first.spatial_ref().and_then(|s| s.to_wkt()) {
        let _ = writeln!(x, "  <SRS>{}</SRS>", escape(&srs));
    }
    let gt_text: Vec<String> = gt.iter().map(|v| format!("{v:?}")).collect();
    let _ = writeln!(x, "  <GeoTransform>{}</GeoTransform>", gt_text.join(", "));
    for (i, s) in sources.iter().enumerate() {
        let _ = writeln!(x, "  <VRTRasterBand dataType=\"{}\" band=\"{}\">", s.data_type, i + 1);
        if let Some(v) = s.nodata {
            let _ = writeln!(x, "    <NoDataValue>{v:?}</NoDataValue>");
        }
        let name = match s.description.as_str() {
            "" => s.path.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            d => d.to_string(),
        };
        let _ = writeln!(x, "    <Description>{}</Description>", escape(&name));
        let _ = writeln!(x, "    <ComplexSource resampling=\"{}\">", escape(resampling));
        let _ = writeln!(
            x,
            "      <SourceFilename relativeToVRT=\"0\">{}</SourceFilename>",
            escape(&s.path.to_string_lossy())
        );
        let _ = writeln!(x, "      <SourceBand>{}</SourceBand>", s.band);
        let _ = writeln!(x, "      <SrcRect xOff=\"0\" yOff=\"0\" xSize=\"{}\" ySize=\"{}\"/>", s.size.0, s.size.1);
        let [dx, dy, dw, dh] = s.dst;
        let _ = writeln!(x, "      <DstRect xOff=\"{dx:?}\" yOff=\"{dy:?}\" xSize=\"{dw:?}\" ySize=\"{dh:?}\"/>");
        if let Some(v) = s.nodata {
            let _ = writeln!(x, "      <NODATA>{v:?}</NODATA>");
        }
        let _ = writeln!(x, "    </ComplexSource>\n  </VRTRasterBand>");
    }
    x.push_str("</VRTDataset>\n");
    x
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
