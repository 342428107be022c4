//! Putting the reference on the prediction's grid: both rasters must share a CRS; the same
//! geotransform and size compare pixel by pixel; any other resolution or extent is resampled
//! by GDAL's warper onto the prediction grid (mode for classes, average for values), as a lazy
//! virtual raster read strip by strip, so memory never grows with the raster. Rasters without
//! georeferencing on both sides compare pixel by pixel when their sizes match.

use std::path::Path;

use gdal::programs::raster::{build_vrt, BuildVRTOptions};
use gdal::spatial_ref::SpatialRef;
use gdal::Dataset;

use crate::error::{Error, Result};
use crate::raster::gdal::{warp as gdal_warp, UtilityError};

/// One band of an open raster.
pub(super) struct Band<'a> {
    pub path: &'a Path,
    pub ds: &'a Dataset,
    pub band: usize,
}

/// The reference resampled onto the prediction grid: one Float64 band, NaN where the
/// reference is nodata or absent. `warped` reads from `_source`, so it is declared (and
/// dropped) first.
pub(super) struct Warped {
    pub warped: Dataset,
    _source: Dataset,
}

/// How the reference was put on the prediction grid.
pub(super) struct Matched {
    /// In words, for the report.
    pub grid: String,
    /// "reference 10 m -> 30 m (prediction grid) by mode", when resampled.
    pub resampled: Option<String>,
    /// The resampled reference; None: read the reference band as it is.
    pub warped: Option<Warped>,
}

struct Georef {
    gt: [f64; 6],
    srs: SpatialRef,
}

fn georef(ds: &Dataset) -> Option<Georef> {
    let gt = ds.geo_transform().ok()?;
    let srs = ds.spatial_ref().ok()?;
    Some(Georef { gt, srs })
}

/// A CRS as a user recognises it: "EPSG:32633 (WGS 84 / UTM zone 33N)".
fn crs_name(srs: &SpatialRef) -> String {
    let mut s = srs.clone();
    let authority = srs.authority().ok().or_else(|| s.auto_identify_epsg().ok().and_then(|_| s.authority().ok()));
    match (authority, srs.name()) {
        (Some(a), Some(n)) => format!("{a} ({n})"),
        (Some(a), None) => a,
        (None, Some(n)) => n,
        (None, None) => "an unnamed CRS".into(),
    }
}

/// Pixel size with its unit: "10 m", "0.0001 degree", "10 x 20 m".
fn resolution(g: &Georef) -> String {
    let (x, y) = ((g.gt[1] * g.gt[1] + g.gt[4] * g.gt[4]).sqrt(), (g.gt[2] * g.gt[2] + g.gt[5] * g.gt[5]).sqrt());
    let unit = if g.srs.is_geographic() {
        "degree".to_string()
    } else {
        match g.srs.linear_units_name().as_deref() {
            Some("metre") | Some("meter") => "m".to_string(),
            Some(u) => u.to_string(),
            None => "map units".to_string(),
        }
    };
    let num = |v: f64| format!("{}", (v * 1e9).round() / 1e9);
    if (x - y).abs() <= 1e-9 * x.max(y) {
        format!("{} {unit}", num(x))
    } else {
        format!("{} x {} {unit}", num(x), num(y))
    }
}

fn same_transform(a: &[f64; 6], b: &[f64; 6]) -> bool {
    let tol = 1e-6 * a[1].abs().max(a[5].abs()).max(f64::MIN_POSITIVE);
    a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
}

/// Checks the two grids and resamples the reference when they differ (GDAL resampling `alg`).
pub(super) fn match_grids(pred: &Band, reference: &Band, alg: &str) -> Result<Matched> {
    let (pw, ph) = pred.ds.raster_size();
    let (rw, rh) = reference.ds.raster_size();
    let (pp, rp) = (pred.path.display(), reference.path.display());
    match (georef(pred.ds), georef(reference.ds)) {
        (None, None) => {
            if (pw, ph) != (rw, rh) {
                return Err(Error::invalid(format!(
                    "{pp} is {pw}x{ph} pixels and {rp} is {rw}x{rh}, and neither has a CRS and geotransform: \
                     rasters without georeferencing are compared pixel by pixel and must have the same size"
                )));
            }
            Ok(Matched {
                grid: format!("no CRS on either raster: compared pixel by pixel (same size {pw}x{ph})"),
                resampled: None,
                warped: None,
            })
        }
        (Some(_), None) | (None, Some(_)) => {
            let (with, without) = if georef(pred.ds).is_some() { (&pp, &rp) } else { (&rp, &pp) };
            Err(Error::invalid(format!(
                "{with} has a CRS and geotransform but {without} has none: give both rasters a CRS \
                 (e.g. gdal_edit.py -a_srs -a_ullr) or neither"
            )))
        }
        (Some(p), Some(r)) => {
            if p.srs != r.srs {
                return Err(Error::invalid(format!(
                    "the rasters have different CRSs: {pp} is in {}, {rp} is in {}; reproject one onto the \
                     other first (gdalwarp -t_srs)",
                    crs_name(&p.srs),
                    crs_name(&r.srs)
                )));
            }
            if (pw, ph) == (rw, rh) && same_transform(&p.gt, &r.gt) {
                return Ok(Matched {
                    grid: "same grid (CRS, geotransform and size)".into(),
                    resampled: None,
                    warped: None,
                });
            }
            let resampled = format!("reference {} -> {} (prediction grid) by {alg}", resolution(&r), resolution(&p));
            let warped = warp(reference, &p.gt, (pw, ph), alg)?;
            Ok(Matched {
                grid: format!(
                    "same CRS ({}), different grids: the reference ({rw}x{rh} pixels) was resampled onto the \
                     prediction's {pw}x{ph} pixels",
                    crs_name(&p.srs)
                ),
                resampled: Some(resampled),
                warped: Some(warped),
            })
        }
    }
}

/// A lazy warped view of the reference band on the prediction grid: GDALWarp into a virtual
/// raster (`-of VRT`), Float64 with NaN as nodata so that pixels outside the reference, or
/// whose sources are all nodata, read as NaN.
fn warp(reference: &Band, gt: &[f64; 6], (w, h): (usize, usize), alg: &str) -> Result<Warped> {
    if gt[2] != 0.0 || gt[4] != 0.0 || gt[1] <= 0.0 || gt[5] >= 0.0 {
        return Err(Error::invalid(format!(
            "the prediction grid is rotated or not north-up (geotransform {gt:?}): resampling the reference onto \
             it is not supported; warp the prediction to a north-up grid first"
        )));
    }
    let alg = crate::raster::resample::warp_resampling(alg)?;
    let path = reference.path;
    let fail = |what: &str, e: &dyn std::fmt::Display| Error::raster(path, format!("{what}: {e}"));
    // gdalwarp cannot pick a band before GDAL 3.7: a one-band virtual raster does it.
    let band_opts = BuildVRTOptions::new(["-b", &reference.band.to_string()])
        .map_err(|e| fail("selecting the band to resample", &e))?;
    let source =
        build_vrt(None, &[reference.ds], Some(band_opts)).map_err(|e| fail("selecting the band to resample", &e))?;
    let mut args: Vec<String> = vec!["-of".into(), "VRT".into(), "-ot".into(), "Float64".into()];
    let (xmin, ymax) = (gt[0], gt[3]);
    let (xmax, ymin) = (gt[0] + gt[1] * w as f64, gt[3] + gt[5] * h as f64);
    args.push("-te".into());
    args.extend([xmin, ymin, xmax, ymax].iter().map(|v| format!("{v:.17e}")));
    args.extend(["-ts".into(), w.to_string(), h.to_string(), "-r".into(), alg.into()]);
    args.extend(["-dstnodata".into(), "nan".into(), "-wo".into(), "INIT_DEST=NO_DATA".into()]);
    let band = source.rasterband(1).map_err(|e| fail("band", &e))?;
    if band.no_data_value().is_none() && band.band_type().is_floating() {
        // NaN is not nodata to the warper unless it is told so.
        args.extend(["-srcnodata".into(), "nan".into()]);
    }
    // The warped virtual raster reads from `source`, which `Warped` keeps open for as long.
    let warped = gdal_warp(&source, &args).map_err(|e| match e {
        UtilityError::Arguments => Error::Internal(format!("GDAL rejected the warp options {args:?}")),
        UtilityError::Failed(msg) => fail("GDAL could not resample it onto the prediction grid", &msg),
    })?;
    Ok(Warped { warped, _source: source })
}
