//! PNG quicklooks: an input's RGB (2-98 % stretch per band) beside a class raster in its own
//! colour table, read decimated through GDAL so that large rasters stay cheap.

use std::path::Path;

use gdal::raster::{Buffer, RasterCreationOptions, ResampleAlg};
use gdal::{Dataset, DriverManager};

use crate::atomic::TempFile;
use crate::error::{Error, Result};
use crate::raster::input::open;
use crate::raster::output::{check_output, dataset_files};
use crate::raster::space::explain;

const MAX_SIDE: usize = 1024;

fn stretch(values: &[f64]) -> Vec<u8> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return vec![0; values.len()];
    }
    sorted.sort_by(f64::total_cmp);
    let lo = sorted[sorted.len() * 2 / 100];
    let hi = sorted[(sorted.len() * 98 / 100).min(sorted.len() - 1)];
    let span = if hi > lo { hi - lo } else { 1.0 };
    values.iter().map(|v| (((v - lo) / span).clamp(0.0, 1.0) * 255.0).round() as u8).collect()
}

/// Writes `output` (PNG): `input`'s `rgb` bands, and beside them the classes of `classes`.
pub fn write(input: &Path, output: &Path, rgb: &[usize], classes: Option<&Path>) -> Result<()> {
    if rgb.len() != 3 {
        return Err(Error::invalid(format!("--rgb takes three bands, found {}", rgb.len())));
    }
    let ds = open(input)?;
    let cds = classes.map(open).transpose()?;
    let mut inputs = vec![("the input raster", input.to_path_buf())];
    inputs.extend(dataset_files("a file of the input raster", &ds));
    if let (Some(path), Some(cds)) = (classes, &cds) {
        inputs.push(("the class raster", path.to_path_buf()));
        inputs.extend(dataset_files("a file of the class raster", cds));
    }
    check_output(output, &inputs)?;
    let (w, h) = ds.raster_size();
    let f = (w.max(h) as f64 / MAX_SIDE as f64).max(1.0);
    let (qw, qh) = (((w as f64 / f).round() as usize).max(1), ((h as f64 / f).round() as usize).max(1));
    let mut planes = Vec::new();
    for &b in rgb {
        let band = ds.rasterband(b).map_err(|e| Error::raster(input, format!("band {b}: {e}")))?;
        let buf = band
            .read_as::<f64>((0, 0), (w, h), (qw, qh), Some(ResampleAlg::Average))
            .map_err(|e| Error::raster(input, e))?;
        planes.push(stretch(buf.data()));
    }
    let class_rgb = match classes.zip(cds) {
        None => None,
        Some((path, cds)) => {
            let band = cds.rasterband(1).map_err(|e| Error::raster(path, e))?;
            let (cw, ch) = cds.raster_size();
            let buf = band.read_as::<u8>((0, 0), (cw, ch), (qw, qh), None).map_err(|e| Error::raster(path, e))?;
            let table = band.color_table();
            let mut out = vec![vec![0u8; qw * qh]; 3];
            let nodata = band.no_data_value();
            for (i, c) in buf.data().iter().enumerate() {
                // Without a table (a class band with probability bands beside it cannot carry
                // one), the palette `rastrum run` gives classes by default.
                let rgb = match &table {
                    Some(t) => t.entry_as_rgb(*c as usize).map(|e| (e.r, e.g, e.b)),
                    None if nodata == Some(*c as f64) => None,
                    None => Some(super::output::class_colour(*c as usize)),
                };
                if let Some((r, g, b)) = rgb {
                    out[0][i] = r as u8;
                    out[1][i] = g as u8;
                    out[2][i] = b as u8;
                }
            }
            Some(out)
        }
    };
    let gap = 8;
    let total_w = if class_rgb.is_some() { 2 * qw + gap } else { qw };
    let mem = DriverManager::get_driver_by_name("MEM").map_err(|e| Error::Internal(e.to_string()))?;
    let canvas: Dataset =
        mem.create_with_band_type::<u8, _>("", total_w, qh, 3).map_err(|e| Error::Internal(e.to_string()))?;
    for c in 0..3 {
        let mut band = canvas.rasterband(c + 1).map_err(|e| Error::Internal(e.to_string()))?;
        band.fill(200.0, None).map_err(|e| Error::Internal(e.to_string()))?;
        let mut b = Buffer::new((qw, qh), planes[c].clone());
        band.write((0, 0), (qw, qh), &mut b).map_err(|e| Error::Internal(e.to_string()))?;
        if let Some(cls) = &class_rgb {
            let mut b = Buffer::new((qw, qh), cls[c].clone());
            band.write(((qw + gap) as isize, 0), (qw, qh), &mut b).map_err(|e| Error::Internal(e.to_string()))?;
        }
    }
    let png = DriverManager::get_driver_by_name("PNG").map_err(|e| Error::Internal(e.to_string()))?;
    // GDAL may leave a PAM sidecar beside the PNG: never wanted beside a quicklook.
    let temp = TempFile::beside(output, "png")?.with_sidecar(".aux.xml");
    canvas
        .create_copy(&png, temp.path(), &RasterCreationOptions::new())
        .and_then(|d| d.close())
        .map_err(|e| Error::io(output, explain(temp.path(), &e.to_string())))?;
    let _ = std::fs::remove_file(temp.sidecar(".aux.xml"));
    temp.persist(output).map_err(|e| Error::io(output, e))
}
