//! Web Mercator (EPSG:3857) XYZ tile math, the slippy-map convention of OpenStreetMap, Leaflet
//! and QGIS's XYZ layers: the world is a square of `2 * HALF_WORLD` metres, tile (0, 0) is its
//! top-left corner, y grows southwards, every tile is 256 px, zoom z has 2^z x 2^z tiles.
//! Also the lon/lat bounds of a raster (transformed by GDAL/OSR, densified edges) and the tiles
//! that cover them.

use std::path::Path;

use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform, SpatialRef};
use gdal::Dataset;
use serde::Serialize;

use crate::error::{Error, Result};

/// Half the width of the Web Mercator world in metres: pi * 6378137.
pub const HALF_WORLD: f64 = 20_037_508.342_789_244;
/// Tile side in pixels.
pub const TILE_SIZE: usize = 256;
/// The latitude where the square world ends: atan(sinh(pi)) in degrees.
pub const MAX_LAT: f64 = 85.051_128_779_806_59;
/// Deepest zoom accepted (about 1 cm per pixel at the equator).
pub const MAX_ZOOM: u8 = 24;

/// Side of one tile at zoom `z`, in metres.
pub fn tile_span(z: u8) -> f64 {
    2.0 * HALF_WORLD / (1u64 << z) as f64
}

/// Pixel size at zoom `z`, in metres.
pub fn resolution(z: u8) -> f64 {
    tile_span(z) / TILE_SIZE as f64
}

/// Lon/lat (degrees, latitude clamped to the square world) to EPSG:3857 metres.
pub fn lonlat_to_metres(lon: f64, lat: f64) -> (f64, f64) {
    let lat = lat.clamp(-MAX_LAT, MAX_LAT).to_radians();
    (lon / 180.0 * HALF_WORLD, lat.tan().asinh() / std::f64::consts::PI * HALF_WORLD)
}

/// EPSG:3857 metres to lon/lat degrees.
pub fn metres_to_lonlat(x: f64, y: f64) -> (f64, f64) {
    (x / HALF_WORLD * 180.0, (y / HALF_WORLD * std::f64::consts::PI).sinh().atan().to_degrees())
}

/// One XYZ tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Tile {
    pub z: u8,
    pub x: u32,
    pub y: u32,
}

impl Tile {
    /// `[xmin, ymin, xmax, ymax]` in EPSG:3857 metres.
    pub fn bounds_metres(&self) -> [f64; 4] {
        let s = tile_span(self.z);
        let (x0, y0) = (-HALF_WORLD + self.x as f64 * s, HALF_WORLD - self.y as f64 * s);
        [x0, y0 - s, x0 + s, y0]
    }

    /// `[west, south, east, north]` in degrees.
    pub fn bounds_lonlat(&self) -> [f64; 4] {
        let [x0, y0, x1, y1] = self.bounds_metres();
        let (w, s) = metres_to_lonlat(x0, y0);
        let (e, n) = metres_to_lonlat(x1, y1);
        [w, s, e, n]
    }

    /// The tile of zoom `z` containing a lon/lat point (points on the world's edge go to the
    /// last tile, latitudes beyond the square world to the first or last row).
    pub fn containing(lon: f64, lat: f64, z: u8) -> Tile {
        let (x, y) = lonlat_to_metres(lon, lat);
        let s = tile_span(z);
        let last = ((1u64 << z) - 1) as f64;
        Tile {
            z,
            x: ((x + HALF_WORLD) / s).floor().clamp(0.0, last) as u32,
            y: ((HALF_WORLD - y) / s).floor().clamp(0.0, last) as u32,
        }
    }
}

/// The tiles of one zoom that cover a box: columns `x_min..=x_max`, rows `y_min..=y_max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TileRange {
    pub z: u8,
    pub x_min: u32,
    pub x_max: u32,
    pub y_min: u32,
    pub y_max: u32,
}

impl TileRange {
    /// The tiles that intersect `[xmin, ymin, xmax, ymax]` (EPSG:3857 metres): a tile that only
    /// touches the box along an edge is left out.
    pub fn covering(bounds: [f64; 4], z: u8) -> TileRange {
        let s = tile_span(z);
        let last = ((1u64 << z) - 1) as f64;
        let col = |v: f64| (v + HALF_WORLD) / s;
        let row = |v: f64| (HALF_WORLD - v) / s;
        let x_min = col(bounds[0]).floor().clamp(0.0, last);
        let x_max = (col(bounds[2]).ceil() - 1.0).clamp(x_min, last);
        let y_min = row(bounds[3]).floor().clamp(0.0, last);
        let y_max = (row(bounds[1]).ceil() - 1.0).clamp(y_min, last);
        TileRange { z, x_min: x_min as u32, x_max: x_max as u32, y_min: y_min as u32, y_max: y_max as u32 }
    }

    pub fn count(&self) -> usize {
        (self.x_max - self.x_min + 1) as usize * (self.y_max - self.y_min + 1) as usize
    }

    /// The `i`-th tile, row by row (north to south, west to east in a row).
    pub fn nth(&self, i: usize) -> Tile {
        let w = (self.x_max - self.x_min + 1) as usize;
        Tile { z: self.z, x: self.x_min + (i % w) as u32, y: self.y_min + (i / w) as u32 }
    }
}

/// `[west, south, east, north]` of a raster in degrees (WGS 84), its edges densified so that
/// curved edges are enclosed, latitudes clamped to the square Web Mercator world. Errors name
/// the file when it has no georeferencing or crosses the antimeridian.
pub fn raster_bounds_lonlat(ds: &Dataset, path: &Path) -> Result<[f64; 4]> {
    let gt = ds.geo_transform().map_err(|_| Error::raster(path, "has no geotransform: it is not georeferenced"))?;
    if gt == [0.0, 1.0, 0.0, 0.0, 0.0, 1.0] {
        return Err(Error::raster(path, "has no geotransform: it is not georeferenced"));
    }
    let mut srs = ds
        .spatial_ref()
        .map_err(|_| Error::raster(path, "has no coordinate reference system: it is not georeferenced"))?;
    srs.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    let (w, h) = ds.raster_size();
    let corners = [(0.0, 0.0), (w as f64, 0.0), (0.0, h as f64), (w as f64, h as f64)]
        .map(|(c, r)| (gt[0] + c * gt[1] + r * gt[2], gt[3] + c * gt[4] + r * gt[5]));
    let (mut xmin, mut ymin, mut xmax, mut ymax) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for (x, y) in corners {
        (xmin, ymin, xmax, ymax) = (xmin.min(x), ymin.min(y), xmax.max(x), ymax.max(y));
    }
    let mut wgs84 = SpatialRef::from_epsg(4326).map_err(|e| Error::Internal(format!("EPSG:4326: {e}")))?;
    wgs84.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    let ct = CoordTransform::new(&srs, &wgs84)
        .map_err(|e| Error::raster(path, format!("its CRS cannot be transformed to WGS 84: {e}")))?;
    let b = ct
        .transform_bounds(&[xmin, ymin, xmax, ymax], 21)
        .map_err(|e| Error::raster(path, format!("its bounds cannot be transformed to WGS 84: {e}")))?;
    if b.iter().any(|v| !v.is_finite()) {
        return Err(Error::raster(path, format!("its bounds transform to non-finite lon/lat {b:?}")));
    }
    if b[0] > b[2] {
        return Err(Error::raster(
            path,
            format!("it crosses the antimeridian (west {} > east {}): not supported", b[0], b[2]),
        ));
    }
    let (s, n) = (b[1].clamp(-MAX_LAT, MAX_LAT), b[3].clamp(-MAX_LAT, MAX_LAT));
    if s >= n {
        return Err(Error::raster(path, "it lies beyond the latitudes that Web Mercator covers (±85.05°)"));
    }
    Ok([b[0].max(-180.0), s, b[2].min(180.0), n])
}

/// Lon/lat bounds to EPSG:3857 metres (exact: Mercator maps a lon/lat box onto a box).
pub fn lonlat_bounds_to_metres(b: [f64; 4]) -> [f64; 4] {
    let (x0, y0) = lonlat_to_metres(b[0], b[1]);
    let (x1, y1) = lonlat_to_metres(b[2], b[3]);
    [x0, y0, x1, y1]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The OSM wiki's formula, written independently.
    fn osm(lon: f64, lat: f64, z: u8) -> (u32, u32) {
        let n = 2f64.powi(z as i32);
        let lat = lat.to_radians();
        let x = ((lon + 180.0) / 360.0 * n).floor();
        let y = ((1.0 - lat.tan().asinh() / std::f64::consts::PI) / 2.0 * n).floor();
        (x as u32, y as u32)
    }

    #[test]
    fn zoom_zero_is_the_world() {
        let t = Tile { z: 0, x: 0, y: 0 };
        let b = t.bounds_metres();
        assert_eq!(b, [-HALF_WORLD, -HALF_WORLD, HALF_WORLD, HALF_WORLD]);
        assert!((HALF_WORLD - 20037508.34).abs() < 0.01);
        let ll = t.bounds_lonlat();
        assert!((ll[0] + 180.0).abs() < 1e-9 && (ll[2] - 180.0).abs() < 1e-9);
        assert!((ll[3] - 85.0511287798).abs() < 1e-9 && (ll[1] + 85.0511287798).abs() < 1e-9);
    }

    #[test]
    fn tiles_agree_with_the_osm_formula() {
        let points = [(13.3777, 52.5163), (-77.0365, 38.8977), (151.2153, -33.8568), (0.0, 0.0), (-179.9, 84.9)];
        for z in 0..=20 {
            for (lon, lat) in points {
                let t = Tile::containing(lon, lat, z);
                assert_eq!((t.x, t.y), osm(lon, lat, z), "z {z} at {lon},{lat}");
                let b = t.bounds_lonlat();
                // West and north edges belong to the tile (x and y are floors, y grows south).
                assert!(b[0] <= lon && lon < b[2] && b[1] < lat && lat <= b[3], "{b:?} should hold {lon},{lat}");
            }
        }
    }

    #[test]
    fn published_tile() {
        // Berlin's Brandenburg Gate is in OSM tile 12/2200/1343 (tile.openstreetmap.org/12/2200/1343.png).
        assert_eq!(Tile::containing(13.3777, 52.5163, 12), Tile { z: 12, x: 2200, y: 1343 });
    }

    #[test]
    fn covering_range_excludes_touching_tiles() {
        let t = Tile { z: 5, x: 10, y: 7 };
        let r = TileRange::covering(t.bounds_metres(), 5);
        assert_eq!((r.x_min, r.x_max, r.y_min, r.y_max, r.count()), (10, 10, 7, 7, 1));
        assert_eq!(r.nth(0), t);
    }
}
