//! Vector outputs through OGR: a detector's boxes as polygons in the raster's CRS (the box's
//! corners through the geotransform, so rotated and sheared grids stay exact), with fields
//! `class_id`, `class_name`, `score` and `tile`; and a class raster's polygons (`polygonize`).
//! A layer is written under a temporary name and moved into place whole, like the rasters; the
//! format follows the extension.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use gdal::errors::Result as GdalResult;
use gdal::spatial_ref::SpatialRef;
use gdal::vector::{Feature, FieldDefn, Geometry, LayerAccess, LayerOptions, OGRFieldType, OGRwkbGeometryType};
use gdal::{Dataset, DriverManager};

use crate::atomic::TempFile;
use crate::detect::Detection;
use crate::error::{Error, Result};
use crate::raster::output::Georef;
use crate::raster::place::temp_file;

/// The OGR driver for a target, by extension (single-file formats: the file moves into place
/// whole).
pub fn vector_driver(target: &Path) -> Result<&'static str> {
    let ext = target.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    Ok(match ext.as_str() {
        "gpkg" => "GPKG",
        "fgb" => "FlatGeobuf",
        "geojson" | "json" => "GeoJSON",
        "geojsonl" | "geojsons" => "GeoJSONSeq",
        "parquet" => "Parquet",
        "sqlite" => "SQLite",
        _ => {
            return Err(Error::invalid(format!(
                "{}: a vector layer is written by its extension; choose a .gpkg (default), .fgb, .geojson, \
                 .geojsonl, .parquet or .sqlite output",
                target.display()
            )))
        }
    })
}

/// Fields of every detection layer, in order.
const DETECTION_FIELDS: [(&str, OGRFieldType::Type); 4] = [
    ("class_id", OGRFieldType::OFTInteger),
    ("class_name", OGRFieldType::OFTString),
    ("score", OGRFieldType::OFTReal),
    ("tile", OGRFieldType::OFTInteger),
];

/// A detection layer being written.
pub struct VectorOutput {
    ds: Dataset,
    temp: TempFile,
    target: PathBuf,
    transform: [f64; 6],
    names: Vec<String>,
    /// GeoPackage and SQLite write each batch of features in one transaction (one commit, not
    /// one per feature).
    transactions: bool,
    pub written: u64,
    /// What recreates the layer empty (an empty FlatGeobuf without its index is a 0-byte file
    /// that GDAL cannot open): the layer's name, CRS and fields.
    empty: (String, String, Vec<(String, OGRFieldType::Type)>, OGRwkbGeometryType::Type),
}

impl VectorOutput {
    /// Creates the layer for `target` (named after its file) on `grid`'s CRS.
    /// With `instances`, features are multipolygons (an instance mask may come in parts).
    pub fn create(target: &Path, grid: &Georef, names: &[String], instances: bool) -> Result<VectorOutput> {
        let ty = if instances { OGRwkbGeometryType::wkbMultiPolygon } else { OGRwkbGeometryType::wkbPolygon };
        let mut out = VectorOutput::with_fields(target, &grid.projection, &DETECTION_FIELDS, ty)?;
        out.transform = grid.geo_transform.unwrap_or([0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
        out.names = names.to_vec();
        Ok(out)
    }

    /// An empty polygon layer of `fields` for `target` in the CRS `projection` (WKT).
    fn with_fields(
        target: &Path,
        projection: &str,
        fields: &[(&str, OGRFieldType::Type)],
        ty: OGRwkbGeometryType::Type,
    ) -> Result<VectorOutput> {
        let driver_name = vector_driver(target)?;
        let driver = DriverManager::get_driver_by_name(driver_name)
            .map_err(|_| Error::invalid(format!("{}: this GDAL has no {driver_name} driver", target.display())))?;
        let ext = target.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default();
        let temp = temp_file(target, "", &ext);
        let name = target.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "detections".into());
        let ds = create_layer(&driver, driver_name, temp.path(), &name, projection, fields, ty)
            .map_err(|e| Error::io(target, format!("creating the {driver_name} layer: {e}")))?;
        let transactions = matches!(driver_name, "GPKG" | "SQLite");
        let target = target.to_path_buf();
        let empty = (name, projection.to_string(), fields.iter().map(|(n, t)| (n.to_string(), *t)).collect(), ty);
        let (transform, names) = ([0.0; 6], Vec::new());
        Ok(VectorOutput { ds, temp, target, transform, names, transactions, written: 0, empty })
    }

    /// The class raster `classes` (a finished file) as polygons at `target`: one per connected
    /// patch of a class (4-connected), nodata left out, with fields `class_id` and `class_name`;
    /// simplified by `simplify` map units (topology preserved) when given.
    pub fn polygonize(classes: &Path, target: &Path, names: &[String], simplify: Option<f64>) -> Result<VectorOutput> {
        let raster = Dataset::open(classes).map_err(|e| Error::io(classes, e.to_string()))?;
        let fields = [("class_id", OGRFieldType::OFTInteger), ("class_name", OGRFieldType::OFTString)];
        let mut out = VectorOutput::with_fields(target, &raster.projection(), &fields, OGRwkbGeometryType::wkbPolygon)?;
        let failed = |e: String| Error::io(target, format!("polygonizing the classes: {e}"));
        let band = raster.rasterband(1).map_err(|e| failed(e.to_string()))?;
        {
            let layer = out.ds.layer(0).map_err(|e| failed(e.to_string()))?;
            crate::raster::gdal::polygonize(&band, &layer, 0).map_err(failed)?;
        }
        let named = if out.transactions {
            out.ds.start_transaction().and_then(|txn| {
                name_polygons(&txn, names, simplify)?;
                txn.commit()
            })
        } else {
            name_polygons(&out.ds, names, simplify)
        };
        named.map_err(|e| failed(e.to_string()))?;
        Ok(out)
    }

    /// Appends boxes (in the raster's pixels), each as its instance's polygons when `instances`
    /// holds them (by tile and box index).
    pub fn write(&mut self, boxes: &[Detection], instances: &HashMap<(u32, u32), Polygons>) -> Result<()> {
        if boxes.is_empty() {
            return Ok(());
        }
        let how = Shapes { transform: self.transform, names: &self.names, instances, multi: self.empty.3 };
        let written = if self.transactions {
            self.ds.start_transaction().and_then(|txn| {
                write_features(&txn, boxes, &how)?;
                txn.commit()
            })
        } else {
            write_features(&self.ds, boxes, &how)
        };
        written.map_err(|e| Error::io(&self.target, format!("writing detections: {e}")))?;
        self.written += boxes.len() as u64;
        Ok(())
    }

    /// Closes the layer: the finished file under its temporary name, and where it goes.
    pub fn close(self) -> Result<(TempFile, PathBuf)> {
        let VectorOutput { ds, temp, target, transactions, empty, .. } = self;
        let driver = ds.driver();
        if driver.short_name() == "FlatGeobuf" && ds.layer(0).map(|l| l.feature_count()).unwrap_or(0) == 0 {
            ds.close().map_err(|e| Error::io(&target, format!("closing the layer: {e}")))?;
            let _ = std::fs::remove_file(temp.path());
            let fields: Vec<(&str, OGRFieldType::Type)> = empty.2.iter().map(|(n, t)| (n.as_str(), *t)).collect();
            let ds = create_layer(&driver, "FlatGeobuf with index", temp.path(), &empty.0, &empty.1, &fields, empty.3)
                .map_err(|e| Error::io(&target, format!("writing the empty layer: {e}")))?;
            ds.close().map_err(|e| Error::io(&target, format!("closing the layer: {e}")))?;
            return Ok((temp, target));
        }
        if transactions && ds.driver().short_name() == "GPKG" {
            let layer = ds.layer(0).map(|l| l.name()).unwrap_or_default();
            let sql = format!("SELECT CreateSpatialIndex('{}', 'geom')", layer.replace('\'', "''"));
            ds.execute_sql(sql, None, gdal::vector::sql::Dialect::DEFAULT)
                .map_err(|e| Error::io(&target, format!("indexing the layer: {e}")))?;
        }
        ds.close().map_err(|e| Error::io(&target, format!("closing the layer: {e}")))?;
        Ok((temp, target))
    }
}

/// A dataset at `path` with the one polygon layer of detections.
///
/// The spatial index is built once at the end (GeoPackage: `close`), not per feature:
/// FlatGeobuf's would hold every feature in memory until then, GeoPackage's triggers cost more
/// than the writing.
fn create_layer(
    driver: &gdal::Driver,
    kind: &str,
    path: &Path,
    name: &str,
    projection: &str,
    fields: &[(&str, OGRFieldType::Type)],
    ty: OGRwkbGeometryType::Type,
) -> GdalResult<Dataset> {
    let mut ds = driver.create_vector_only(path)?;
    let srs = (!projection.is_empty()).then(|| SpatialRef::from_wkt(projection)).transpose()?;
    let no_index: &[&str] = &["SPATIAL_INDEX=NO"];
    let options = matches!(kind, "GPKG" | "FlatGeobuf").then_some(no_index);
    {
        let layer = ds.create_layer(LayerOptions { name, srs: srs.as_ref(), ty, options })?;
        for &(field, kind) in fields {
            FieldDefn::new(field, kind)?.add_to_layer(&layer)?;
        }
    }
    Ok(ds)
}

/// How boxes become features: the geotransform, class names, instance polygons, layer type.
struct Shapes<'a> {
    transform: [f64; 6],
    names: &'a [String],
    instances: &'a HashMap<(u32, u32), Polygons>,
    multi: OGRwkbGeometryType::Type,
}

fn write_features(ds: &Dataset, boxes: &[Detection], how: &Shapes) -> GdalResult<()> {
    let layer = ds.layer(0)?;
    let defn = layer.defn();
    let t = how.transform;
    for d in boxes {
        let mut feature = Feature::new(defn)?;
        let geometry = match how.instances.get(&(d.tile, d.index)) {
            Some(parts) => multipolygon(parts, t)?,
            None if how.multi == OGRwkbGeometryType::wkbMultiPolygon => {
                let c = d.corners();
                multipolygon(&[vec![vec![c[0], c[1], c[2], c[3]]]], t)?
            }
            None => polygon(d, t)?,
        };
        feature.set_geometry(geometry)?;
        feature.set_field_integer(0, d.class as i32)?;
        feature.set_field_string(1, how.names.get(d.class as usize).map_or("", String::as_str))?;
        feature.set_field_double(2, d.score as f64)?;
        feature.set_field_integer(3, d.tile as i32)?;
        feature.create(&layer)?;
    }
    Ok(())
}

/// Joins the layers of window runs (`--window`, each holding the objects its window owns) into
/// one layer at `output`, features in the windows' order; written whole or not at all.
pub fn join_layers(parts: &[PathBuf], output: &Path) -> Result<PathBuf> {
    let open = |p: &PathBuf| {
        gdal::Dataset::open_ex(
            p,
            gdal::DatasetOptions { open_flags: gdal::GdalOpenFlags::GDAL_OF_VECTOR, ..Default::default() },
        )
        .map_err(|e| Error::io(p, format!("not a vector layer: {e}")))
    };
    let datasets = parts.iter().map(open).collect::<Result<Vec<_>>>()?;
    let inputs: Vec<(&str, PathBuf)> = parts.iter().map(|p| ("a window", p.clone())).collect();
    crate::raster::output::check_output(output, &inputs)?;
    let first = datasets.first().ok_or_else(|| Error::invalid("assemble: no window files given"))?;
    let (fields, projection) = {
        let layer = first.layer(0).map_err(|e| Error::io(&parts[0], e.to_string()))?;
        let fields: Vec<(String, OGRFieldType::Type)> =
            layer.defn().fields().map(|f| (f.name(), f.field_type())).collect();
        (fields, layer.spatial_ref().and_then(|s| s.to_wkt().ok()).unwrap_or_default())
    };
    let named: Vec<(&str, OGRFieldType::Type)> = fields.iter().map(|(n, t)| (n.as_str(), *t)).collect();
    let ty = first.layer(0).map(|l| l.defn().geometry_type()).unwrap_or(OGRwkbGeometryType::wkbPolygon);
    let mut out = VectorOutput::with_fields(output, &projection, &named, ty)?;
    for (ds, path) in datasets.iter().zip(parts) {
        let copied = if out.transactions {
            out.ds.start_transaction().and_then(|txn| {
                copy_features(ds, &txn, fields.len())?;
                txn.commit()
            })
        } else {
            copy_features(ds, &out.ds, fields.len())
        };
        copied.map_err(|e| Error::io(path, format!("copying its features: {e}")))?;
    }
    let (temp, target) = out.close()?;
    crate::raster::place::move_into_place(temp, &target)
}

/// Every feature of `from`'s layer appended to `to`'s, its first `fields` fields and geometry.
fn copy_features(from: &Dataset, to: &Dataset, fields: usize) -> GdalResult<()> {
    let mut source = from.layer(0)?;
    let target = to.layer(0)?;
    let defn = target.defn();
    for f in source.features() {
        let mut copy = Feature::new(defn)?;
        for i in 0..fields {
            if let Some(v) = f.field(i)? {
                copy.set_field(i, &v)?;
            }
        }
        if let Some(g) = f.geometry() {
            copy.set_geometry(g.clone())?;
        }
        copy.create(&target)?;
    }
    Ok(())
}

/// Sets each polygon's class name from its class id, and simplifies it when asked.
fn name_polygons(ds: &Dataset, names: &[String], simplify: Option<f64>) -> GdalResult<()> {
    let mut layer = ds.layer(0)?;
    let fids: Vec<u64> = layer.features().filter_map(|f| f.fid()).collect();
    for fid in fids {
        let Some(mut f) = layer.feature(fid) else { continue };
        let class = f.field_as_integer(0)?.unwrap_or(-1);
        f.set_field_string(1, usize::try_from(class).ok().and_then(|c| names.get(c)).map_or("", String::as_str))?;
        if let Some(tolerance) = simplify {
            if let Some(g) = f.geometry() {
                let simpler = g.simplify_preserve_topology(tolerance)?;
                f.set_geometry(simpler)?;
            }
        }
        layer.set_feature(f)?;
    }
    Ok(())
}

/// Polygons (rings of points, the first ring the outer one) in raster pixels.
pub type Polygons = Vec<Vec<Vec<(f64, f64)>>>;

/// Polygons through the geotransform, as a multipolygon (rings closed).
fn multipolygon(parts: &[Vec<Vec<(f64, f64)>>], t: [f64; 6]) -> GdalResult<Geometry> {
    let at = |(x, y): (f64, f64)| (t[0] + x * t[1] + y * t[2], t[3] + x * t[4] + y * t[5]);
    let mut multi = Geometry::empty(OGRwkbGeometryType::wkbMultiPolygon)?;
    for rings in parts {
        let mut poly = Geometry::empty(OGRwkbGeometryType::wkbPolygon)?;
        for points in rings {
            let mut ring = Geometry::empty(OGRwkbGeometryType::wkbLinearRing)?;
            for p in points.iter().chain(points.first()) {
                ring.add_point_2d(at(*p));
            }
            poly.add_geometry(ring)?;
        }
        multi.add_geometry(poly)?;
    }
    Ok(multi)
}

/// The polygons of the 1 pixels of `mask` (`w` x `h`, its top-left pixel at `origin` in the
/// raster), by GDAL's polygonize in memory: outlines, not hulls; rings open (first point not
/// repeated).
pub fn mask_polygons(mask: &[u8], origin: [f64; 2], w: usize, h: usize) -> Result<Polygons> {
    let failed = |e: String| Error::Internal(format!("polygonizing an instance mask: {e}"));
    let raster = DriverManager::get_driver_by_name("MEM")
        .and_then(|d| d.create_with_band_type::<u8, _>("", w, h, 1))
        .map_err(|e| failed(e.to_string()))?;
    let mut band = raster.rasterband(1).map_err(|e| failed(e.to_string()))?;
    let mut buffer = gdal::raster::Buffer::new((w, h), mask.to_vec());
    band.write((0, 0), (w, h), &mut buffer).map_err(|e| failed(e.to_string()))?;
    // Nodata 0: its mask leaves the off pixels out of the polygons.
    band.set_no_data_value(Some(0.0)).map_err(|e| failed(e.to_string()))?;
    let mut memory = DriverManager::get_driver_by_name("Memory")
        .and_then(|d| d.create_vector_only(""))
        .map_err(|e| failed(e.to_string()))?;
    let options = LayerOptions { name: "mask", srs: None, ty: OGRwkbGeometryType::wkbPolygon, options: None };
    let mut layer = memory.create_layer(options).map_err(|e| failed(e.to_string()))?;
    FieldDefn::new("v", OGRFieldType::OFTInteger)
        .and_then(|f| f.add_to_layer(&layer))
        .map_err(|e| failed(e.to_string()))?;
    crate::raster::gdal::polygonize(&band, &layer, 0).map_err(failed)?;
    let mut parts = Polygons::new();
    for f in layer.features() {
        let Some(g) = f.geometry() else { continue };
        let rings = (0..g.geometry_count())
            .map(|i| {
                let ring = g.get_geometry(i);
                let n = ring.point_count().saturating_sub(1);
                (0..n as i32).map(|j| ring.get_point(j)).map(|(x, y, _)| (origin[0] + x, origin[1] + y)).collect()
            })
            .collect();
        parts.push(rings);
    }
    Ok(parts)
}

/// The box's four corners through the geotransform, as a closed ring.
fn polygon(d: &Detection, t: [f64; 6]) -> GdalResult<Geometry> {
    let at = |(x, y): (f64, f64)| (t[0] + x * t[1] + y * t[2], t[3] + x * t[4] + y * t[5]);
    let corners = d.corners();
    let mut ring = Geometry::empty(OGRwkbGeometryType::wkbLinearRing)?;
    for p in corners.iter().chain(&corners[..1]) {
        ring.add_point_2d(at(*p));
    }
    let mut poly = Geometry::empty(OGRwkbGeometryType::wkbPolygon)?;
    poly.add_geometry(ring)?;
    Ok(poly)
}
