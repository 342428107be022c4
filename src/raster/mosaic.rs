//! Joining the outputs of window runs (`--window`, one per block of the tile grid) into one
//! raster: a VRT over the windows (GDAL's own gdalbuildvrt; placed by pixel offsets for a raster
//! without geotransform), or a GeoTIFF / COG copied from it.
//! Each window file records where it sits in the whole output (`RASTRUM_WINDOW`); the windows
//! must tile the output exactly, so the result has the bytes of one whole run.

use std::path::{Path, PathBuf};

use gdal::programs::raster::{build_vrt, BuildVRTOptions};
use gdal::raster::RasterCreationOptions;
use gdal::{Dataset, DriverManager, Metadata};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::grid::TileWindow;
use crate::raster::gdal::{category_names, last_error_message, relativize_vrt_sources, set_category_names};
use crate::raster::output::{check_output, dataset_files, gtiff_defaults, merged_options, WriteOptions, COG_DEFAULTS};
use crate::raster::place::{check_class_names, is_vsi, move_into_place, temp_file, AUX};
use crate::raster::space::explain;

/// The dataset metadata item of a window's output that records its placement (JSON).
pub const WINDOW_METADATA_KEY: &str = "RASTRUM_WINDOW";

/// A window's place in the whole output.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct WindowPlacement {
    pub tiles: TileWindow,
    /// Output pixel of the window's top-left corner.
    pub x: usize,
    pub y: usize,
    /// The whole output's size and geotransform (recorded exactly, for joining the windows).
    pub raster_width: usize,
    pub raster_height: usize,
    pub geo_transform: Option<[f64; 6]>,
}

/// One window file and its place.
struct Part {
    ds: Dataset,
    path: PathBuf,
    at: WindowPlacement,
}

fn open_part(path: &Path) -> Result<Part> {
    // An absolute path lets GDAL write it relative to the VRT's folder.
    let path = if path.starts_with("/vsi") {
        path.to_path_buf()
    } else {
        std::path::absolute(path).map_err(|e| Error::io(path, e))?
    };
    let ds = Dataset::open(&path).map_err(|e| Error::io(&path, e))?;
    let text = ds.metadata_item(WINDOW_METADATA_KEY, "").ok_or_else(|| {
        Error::io(&path, format!("no {WINDOW_METADATA_KEY} metadata: not the output of a `rastrum run --window`"))
    })?;
    let at: WindowPlacement = serde_json::from_str(&text)
        .map_err(|e| Error::io(&path, format!("{WINDOW_METADATA_KEY} metadata is not a window placement: {e}")))?;
    let (w, h) = ds.raster_size();
    if at.x + w > at.raster_width || at.y + h > at.raster_height {
        return Err(Error::io(
            &path,
            format!("its {w} x {h} pixels at ({}, {}) reach past the whole output", at.x, at.y),
        ));
    }
    Ok(Part { ds, path, at })
}

/// Checks that the parts belong together and cover the whole output once.
fn check_parts(parts: &[Part]) -> Result<()> {
    let first = &parts[0];
    let (w0, h0) = (first.at.raster_width, first.at.raster_height);
    let bands = first.ds.raster_count();
    let mut covered: u128 = 0;
    for p in parts {
        let differs = |what: String| {
            Err(Error::io(
                &p.path,
                format!("{what} differs from {}'s: the windows are of different runs", first.path.display()),
            ))
        };
        if (p.at.raster_width, p.at.raster_height) != (w0, h0) {
            return differs(format!("whole output size {} x {}", p.at.raster_width, p.at.raster_height));
        }
        if p.ds.raster_count() != bands {
            return differs(format!("band count {}", p.ds.raster_count()));
        }
        if p.ds.projection() != first.ds.projection() {
            return differs("the CRS".into());
        }
        if p.at.geo_transform != first.at.geo_transform {
            return differs("the georeferencing".into());
        }
        let (w, h) = p.ds.raster_size();
        covered += (w * h) as u128;
    }
    // The windows of a raster georeferenced by GCPs or RPCs carry them mapped onto each window:
    // joining those into the whole output's is not done.
    if first.at.geo_transform.is_none() && (!first.ds.gcps().is_empty() || first.ds.metadata_domain("RPC").is_some()) {
        return Err(Error::io(
            &first.path,
            "is georeferenced by GCPs or RPCs: windows of such a raster cannot be assembled (run it whole)",
        ));
    }
    // Pairwise overlap; with the area check below this means an exact cover.
    let rect = |p: &Part| {
        let (w, h) = p.ds.raster_size();
        (p.at.x, p.at.y, p.at.x + w, p.at.y + h)
    };
    let mut sorted: Vec<&Part> = parts.iter().collect();
    sorted.sort_by_key(|p| (p.at.y, p.at.x));
    for (i, a) in sorted.iter().enumerate() {
        let ra = rect(a);
        for b in &sorted[i + 1..] {
            let rb = rect(b);
            if rb.1 >= ra.3 {
                break;
            }
            if ra.0 < rb.2 && rb.0 < ra.2 && ra.1 < rb.3 && rb.1 < ra.3 {
                return Err(Error::io(&b.path, format!("overlaps {} (the same window twice?)", a.path.display())));
            }
        }
    }
    let total = (w0 * h0) as u128;
    if covered != total {
        return Err(Error::invalid(format!(
            "the {} windows cover {covered} of the output's {total} pixels ({w0} x {h0}): windows are missing",
            parts.len()
        )));
    }
    Ok(())
}

/// gdalbuildvrt places datasets by their geotransforms and skips those without one or with a
/// positive y step (the pixel grid of a raster without geotransform, `docs/stitching.md`), or
/// rotated: such windows are placed by their recorded pixel offsets instead.
fn pixel_placed(whole: Option<[f64; 6]>) -> bool {
    whole.is_none_or(|g| g[5] >= 0.0 || g[2] != 0.0 || g[4] != 0.0)
}

/// A VRT over the windows placed at their recorded output pixels, with the whole output's
/// geotransform when it has one (none when the output has none, as one pass): written to
/// `path`, or kept in memory for a GeoTIFF copy.
fn pixel_vrt(parts: &[Part], path: Option<&Path>) -> std::result::Result<Dataset, String> {
    let first = &parts[0];
    let mut xml =
        format!("<VRTDataset rasterXSize=\"{}\" rasterYSize=\"{}\">\n", first.at.raster_width, first.at.raster_height);
    let srs = first.ds.projection();
    if !srs.is_empty() {
        xml += &format!("  <SRS>{}</SRS>\n", xml_escape(&srs));
    }
    if let Some(g) = first.at.geo_transform {
        // Debug formatting writes the shortest text that reads back as the same f64.
        let numbers: Vec<String> = g.iter().map(|v| format!("{v:?}")).collect();
        xml += &format!("  <GeoTransform>{}</GeoTransform>\n", numbers.join(", "));
    }
    for b in 1..=first.ds.raster_count() {
        let band = first.ds.rasterband(b).map_err(|e| format!("band {b}: {e}"))?;
        xml += &format!("  <VRTRasterBand dataType=\"{}\" band=\"{b}\">\n", band.band_type().name());
        if let Some(nd) = band.no_data_value() {
            xml += &format!("    <NoDataValue>{nd:?}</NoDataValue>\n");
        }
        for p in parts {
            let (w, h) = p.ds.raster_size();
            xml += &format!(
                "    <SimpleSource><SourceFilename relativeToVRT=\"0\">{}</SourceFilename><SourceBand>{b}</SourceBand>\
                 <SrcRect xOff=\"0\" yOff=\"0\" xSize=\"{w}\" ySize=\"{h}\"/>\
                 <DstRect xOff=\"{}\" yOff=\"{}\" xSize=\"{w}\" ySize=\"{h}\"/></SimpleSource>\n",
                xml_escape(&p.path.to_string_lossy()),
                p.at.x,
                p.at.y
            );
        }
        xml += "  </VRTRasterBand>\n";
    }
    xml += "</VRTDataset>\n";
    // Opened from memory; a .vrt output is GDAL's copy of it (its own serialisation).
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mem = format!("{MEM_VRT}{}_{n}.vrt", std::process::id());
    gdal::vsi::create_mem_file(&mem, xml.into_bytes()).map_err(|e| e.to_string())?;
    let opened = Dataset::open_ex(
        &mem,
        gdal::DatasetOptions {
            open_flags: gdal::GdalOpenFlags::GDAL_OF_UPDATE | gdal::GdalOpenFlags::GDAL_OF_RASTER,
            ..Default::default()
        },
    );
    let result = match (opened, path) {
        (Err(e), _) => Err(e.to_string()),
        // Unlinked by `assemble` once copied (`MEM_VRT` names it).
        (Ok(ds), None) => return Ok(ds),
        (Ok(ds), Some(path)) => DriverManager::get_driver_by_name("VRT")
            .and_then(|d| ds.create_copy(&d, path, &RasterCreationOptions::new()))
            .map_err(|e| e.to_string()),
    };
    let _ = gdal::vsi::unlink_mem_file(&mem);
    result
}

/// Where [`pixel_vrt`] keeps the VRT of a GeoTIFF assembly.
const MEM_VRT: &str = "/vsimem/rastrum_assemble_";

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// What gdalbuildvrt does not carry over from the windows: band descriptions, class names,
/// scales and offsets, and dataset metadata (but the window placement).
fn copy_descriptions(from: &Dataset, to: &mut Dataset) -> Result<()> {
    for item in from.metadata_domain("").unwrap_or_default() {
        if let Some((key, value)) = item.split_once('=') {
            if key != WINDOW_METADATA_KEY {
                to.set_metadata_item(key, value, "").map_err(|e| Error::Internal(e.to_string()))?;
            }
        }
    }
    for b in 1..=from.raster_count() {
        let src = from.rasterband(b).map_err(|e| Error::Internal(e.to_string()))?;
        let mut dst = to.rasterband(b).map_err(|e| Error::Internal(e.to_string()))?;
        let fail = |e: gdal::errors::GdalError| Error::Internal(format!("band {b}: {e}"));
        dst.set_description(&src.description().map_err(fail)?).map_err(fail)?;
        if let Some(s) = src.scale() {
            dst.set_scale(s).map_err(fail)?;
        }
        if let Some(o) = src.offset() {
            dst.set_offset(o).map_err(fail)?;
        }
        if let Some(t) = src.color_table() {
            dst.set_color_table(&t);
        }
        let names = category_names(&src);
        if !names.is_empty() {
            set_category_names(&mut dst, &names)
                .map_err(|_| Error::Internal(format!("band {b}: cannot copy the class names")))?;
        }
    }
    Ok(())
}

/// gdalbuildvrt writes the paths of the datasets it is given as they are (absolute here): the
/// windows under the VRT's folder are made relative to it, so that the folder can move.
fn relative_sources(vrt: &Path, folder: &Path) -> std::result::Result<(), String> {
    relativize_vrt_sources(vrt, |path| path.strip_prefix(folder).ok().map(Path::to_path_buf))
}

/// Joins window outputs into `output`: a VRT over them when it ends in `.vrt` (the windows stay
/// where they are, referenced relative to it), else a GeoTIFF (a COG with `write.cog`) holding
/// the pixels. Written under a temporary name and renamed, as every output.
pub fn assemble(parts: &[PathBuf], output: &Path, write: &WriteOptions) -> Result<PathBuf> {
    if parts.is_empty() {
        return Err(Error::invalid("assemble: no window files given"));
    }
    if crate::raster::vector::vector_driver(output).is_ok() {
        // The windows of a detection run: their objects joined into one layer.
        return crate::raster::vector::join_layers(parts, output);
    }
    let parts = parts.iter().map(|p| open_part(p)).collect::<Result<Vec<_>>>()?;
    // The windows are the inputs: writing over one (a second path to it included) would lose it.
    let inputs: Vec<(&str, PathBuf)> = parts
        .iter()
        .flat_map(|p| std::iter::once(("a window", p.path.clone())).chain(dataset_files("a window's file", &p.ds)))
        .collect();
    check_output(output, &inputs)?;
    check_parts(&parts)?;
    let is_vrt = output.extension().is_some_and(|e| e.eq_ignore_ascii_case("vrt"));
    if is_vrt && write.cog {
        return Err(Error::invalid("assemble: --cog writes a GeoTIFF, not a VRT: name the output .tif"));
    }
    let vrt_temp = if is_vrt { Some(temp_file(output, "", "vrt")) } else { None };
    let mut vrt = if pixel_placed(parts[0].at.geo_transform) {
        pixel_vrt(&parts, vrt_temp.as_ref().map(|t| t.path()))
            .map_err(|e| Error::io(output, format!("building the VRT: {e}")))?
    } else {
        let datasets: Vec<&Dataset> = parts.iter().map(|p| &p.ds).collect();
        let options = BuildVRTOptions::new(["-q"]).map_err(|e| Error::Internal(e.to_string()))?;
        build_vrt(vrt_temp.as_ref().map(|t| t.path()), &datasets, Some(options))
            .map_err(|e| Error::io(output, format!("building the VRT: {e}")))?
    };
    copy_descriptions(&parts[0].ds, &mut vrt)?;
    // gdalbuildvrt derives the pixel size from the extent (rounding its last bits): the whole
    // run's own geotransform instead.
    if let Some(gt) = parts[0].at.geo_transform {
        vrt.set_geo_transform(&gt).map_err(|e| Error::io(output, format!("setting the geotransform: {e}")))?;
    }
    // Checked in the finished file: a GeoTIFF keeps them in its sidecar, whose failed write GDAL
    // reports only as a warning; a VRT cut short by a full disk does not open.
    let names: Vec<(usize, Vec<String>)> = (1..=parts[0].ds.raster_count())
        .filter_map(|b| parts[0].ds.rasterband(b).ok().map(|band| (b, category_names(&band))))
        .filter(|(_, names)| !names.is_empty())
        .collect();
    match vrt_temp {
        Some(temp) => {
            vrt.close()
                .map_err(|e| Error::io(output, format!("writing the VRT: {}", explain(temp.path(), &e.to_string()))))?;
            if !is_vsi(output) {
                let folder = output.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
                let folder = std::path::absolute(folder).map_err(|e| Error::io(output, e))?;
                relative_sources(temp.path(), &folder).map_err(|e| Error::io(output, e))?;
            }
            check_class_names(temp.path(), output, &names, || explain(temp.path(), &last_error_message()))?;
            move_into_place(temp, output)
        }
        None => {
            let (driver_name, defaults) =
                if write.cog { ("COG", COG_DEFAULTS) } else { ("GTiff", gtiff_defaults(vrt.raster_count())) };
            let driver = DriverManager::get_driver_by_name(driver_name).map_err(|e| Error::io(output, e))?;
            let co = merged_options(&write.creation_options, defaults)?;
            let co = RasterCreationOptions::from_iter(co.iter().map(String::as_str));
            let temp = temp_file(output, "", "tif");
            let failed = |e: gdal::errors::GdalError| {
                Error::io(output, format!("writing failed: {}", explain(temp.path(), &e.to_string())))
            };
            let copied = vrt.create_copy(&driver, temp.path(), &co).and_then(|out| out.close());
            let name = vrt.description().unwrap_or_default();
            drop(vrt);
            if name.starts_with(MEM_VRT) {
                let _ = gdal::vsi::unlink_mem_file(&name);
            }
            copied.map_err(failed)?;
            let aux = temp.sidecar(AUX);
            check_class_names(temp.path(), output, &names, || explain(&aux, &last_error_message()))?;
            move_into_place(temp, output)
        }
    }
}
