//! Generated scenes with planted objects, for training and checking the detector: an RGB
//! byte image of textured ground with rectangles of two classes ("roof", "pool") and grey
//! distractors that are not objects, and the box of every object. Deterministic per seed.

use std::path::Path;

use gdal::raster::{Buffer, RasterCreationOptions};
use gdal::spatial_ref::SpatialRef;
use gdal::DriverManager;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rastrum::{Error, Result};

/// The planted classes, by class id.
pub const CLASS_NAMES: [&str; 2] = ["roof", "pool"];

/// Mean colour of each class, and of the distractors (last).
const COLOURS: [[f64; 3]; 3] = [[190.0, 80.0, 60.0], [60.0, 150.0, 210.0], [150.0, 150.0, 150.0]];

/// A planted object: its box in pixels (`x2`, `y2` exclusive), clipped to the scene, and its
/// class.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Planted {
    pub x1: f64,
    pub y1: f64,
    pub x2: f64,
    pub y2: f64,
    pub class: usize,
}

/// What a scene holds.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub width: usize,
    pub height: usize,
    /// Objects (and as many distractors) to place; fewer when the scene is full.
    pub objects: usize,
    /// Smallest and largest side of an object, pixels.
    pub sides: (usize, usize),
    /// Whether objects may lie partly outside the scene (training tiles: as a tile of a larger
    /// scene shows them) or must lie wholly inside.
    pub cut: bool,
}

/// An RGB byte scene, band by band ([3, height, width]), and its objects.
pub struct Scene {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
    pub objects: Vec<Planted>,
}

/// A scene of `layout` from `seed`. Objects and distractors keep two pixels apart.
pub fn scene(layout: &Layout, seed: u64) -> Scene {
    let mut rng = StdRng::seed_from_u64(seed);
    let (w, h) = (layout.width, layout.height);
    let mut pixels = ground(w, h, &mut rng);
    let mut placed: Vec<[i64; 4]> = Vec::new();
    let mut objects = Vec::new();
    for i in 0..2 * layout.objects {
        let Some(r) = place(layout, &placed, &mut rng) else { continue };
        placed.push(r);
        // Even draws are objects, odd ones distractors.
        let kind = if i % 2 == 0 { rng.gen_range(0..CLASS_NAMES.len()) } else { COLOURS.len() - 1 };
        paint(&mut pixels, w, h, r, COLOURS[kind], &mut rng);
        let [x1, y1, x2, y2] = [r[0].max(0), r[1].max(0), r[2].min(w as i64), r[3].min(h as i64)].map(|v| v as f64);
        if kind < CLASS_NAMES.len() {
            objects.push(Planted { x1, y1, x2, y2, class: kind });
        }
    }
    Scene { width: w, height: h, pixels, objects }
}

/// Textured ground: a smooth green-grey field with per-pixel noise.
fn ground(w: usize, h: usize, rng: &mut StdRng) -> Vec<u8> {
    let waves: Vec<[f64; 3]> =
        (0..3).map(|_| [rng.gen_range(0.02..0.12), rng.gen_range(0.02..0.12), rng.gen_range(0.0..6.3)]).collect();
    let base = [95.0, 115.0, 80.0];
    let mut pixels = vec![0u8; 3 * w * h];
    for y in 0..h {
        for x in 0..w {
            let wave: f64 = waves.iter().map(|[fx, fy, p]| 12.0 * (fx * x as f64 + fy * y as f64 + p).sin()).sum();
            for (b, m) in base.iter().enumerate() {
                pixels[b * w * h + y * w + x] = (m + wave + rng.gen_range(-12.0..12.0)).clamp(0.0, 255.0) as u8;
            }
        }
    }
    pixels
}

/// A free rectangle [x1, y1, x2, y2) two pixels away from every placed one, in a few tries.
fn place(layout: &Layout, placed: &[[i64; 4]], rng: &mut StdRng) -> Option<[i64; 4]> {
    let (lo, hi) = (layout.sides.0 as i64, layout.sides.1 as i64);
    for _ in 0..50 {
        let (rw, rh) = (rng.gen_range(lo..=hi), rng.gen_range(lo..=hi));
        // A cut object keeps at least 4 pixels a side inside the scene.
        let (min_x, max_x) = if layout.cut { (4 - rw, layout.width as i64 - 4) } else { (0, layout.width as i64 - rw) };
        let (min_y, max_y) =
            if layout.cut { (4 - rh, layout.height as i64 - 4) } else { (0, layout.height as i64 - rh) };
        if max_x < min_x || max_y < min_y {
            return None;
        }
        let (x, y) = (rng.gen_range(min_x..=max_x), rng.gen_range(min_y..=max_y));
        let r = [x, y, x + rw, y + rh];
        if placed.iter().all(|p| r[0] >= p[2] + 2 || p[0] >= r[2] + 2 || r[1] >= p[3] + 2 || p[1] >= r[3] + 2) {
            return Some(r);
        }
    }
    None
}

/// Paints rectangle `r` (clipped to the scene) in `colour`, shifted per object and noisy per pixel.
fn paint(pixels: &mut [u8], w: usize, h: usize, r: [i64; 4], colour: [f64; 3], rng: &mut StdRng) {
    let shift: Vec<f64> = (0..3).map(|_| rng.gen_range(-25.0..25.0)).collect();
    for y in r[1].max(0)..r[3].min(h as i64) {
        for x in r[0].max(0)..r[2].min(w as i64) {
            for b in 0..3 {
                let v = colour[b] + shift[b] + rng.gen_range(-10.0..10.0);
                pixels[b * w * h + y as usize * w + x as usize] = v.clamp(0.0, 255.0) as u8;
            }
        }
    }
}

/// Writes `scene` as a 3-band byte GeoTIFF with `geo_transform` in UTM zone 33N.
pub fn write(scene: &Scene, geo_transform: [f64; 6], path: &Path) -> Result<()> {
    let gdal_err = |e: gdal::errors::GdalError| Error::io(path, e.to_string());
    let driver = DriverManager::get_driver_by_name("GTiff").map_err(gdal_err)?;
    let (w, h) = (scene.width, scene.height);
    let mut ds = driver
        .create_with_band_type_with_options::<u8, _>(path, w, h, 3, &RasterCreationOptions::new())
        .map_err(gdal_err)?;
    ds.set_geo_transform(&geo_transform).map_err(gdal_err)?;
    ds.set_spatial_ref(&SpatialRef::from_epsg(32633).map_err(gdal_err)?).map_err(gdal_err)?;
    for b in 0..3 {
        let data = scene.pixels[b * w * h..(b + 1) * w * h].to_vec();
        ds.rasterband(b + 1)
            .map_err(gdal_err)?
            .write((0, 0), (w, h), &mut Buffer::new((w, h), data))
            .map_err(gdal_err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_painted_where_their_boxes_say() {
        let layout = Layout { width: 96, height: 80, objects: 6, sides: (6, 14), cut: false };
        let s = scene(&layout, 3);
        assert!(s.objects.len() >= 3, "{} objects", s.objects.len());
        let (w, h) = (s.width, s.height);
        for o in &s.objects {
            assert!(o.x1 >= 0.0 && o.y1 >= 0.0 && o.x2 <= w as f64 && o.y2 <= h as f64, "{o:?}");
            // The box's mean colour is its class's (within the shift and noise).
            let mut sum = [0.0; 3];
            let n = (o.x2 - o.x1) * (o.y2 - o.y1);
            for y in o.y1 as usize..o.y2 as usize {
                for x in o.x1 as usize..o.x2 as usize {
                    for (b, v) in sum.iter_mut().enumerate() {
                        *v += s.pixels[b * w * h + y * w + x] as f64;
                    }
                }
            }
            for b in 0..3 {
                assert!((sum[b] / n - COLOURS[o.class][b]).abs() <= 30.0, "{o:?} band {b}: {}", sum[b] / n);
            }
        }
        assert_eq!(scene(&layout, 3).pixels, s.pixels, "a seed gives the same scene");
    }
}
