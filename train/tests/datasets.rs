//! The dataset readers against fixtures written here, with expectations computed here from the
//! values the fixtures were written with (never by calling the code under test):
//! - chip folders (EuroSAT layout): class ids from sorted folder names, input units, band
//!   selection, nodata as NaN, errors naming the bad chip;
//! - So2Sat LCZ42 (HDF5 via GDAL's multidimensional API): values encode (n, h, w, c) so the
//!   NHWC -> CHW transposition is checked exactly; sen1 + sen2 stacking, one-hot labels, layout
//!   errors; the fixture is a netCDF-4 file (HDF5 inside) read by GDAL's HDF5 driver itself;
//! - super-resolution pairs: the input is the 3x3 area mean of the target, over valid pixels;
//!   paired rasters must differ in size by one integer factor and be co-registered.

mod common;
use common::{write_h5, Array};
use std::fs;
use std::path::{Path, PathBuf};

use gdal::raster::{Buffer, GdalType};
use gdal::{DatasetOptions, DriverManager, GdalOpenFlags};
use rastrum_train::data::folders::ChipFolders;
use rastrum_train::data::so2sat::{So2Sat, So2SatSource, LCZ_NAMES};
use rastrum_train::data::sr::SrPairs;
use rastrum_train::data::{Dataset, Target};

/// Writes a GeoTIFF with `bands` bands of `w` x `h` pixels, value `f(band (1-based), y, x)`.
#[allow(clippy::too_many_arguments)]
fn write_tif<T: GdalType + Copy>(
    path: &Path,
    w: usize,
    h: usize,
    bands: usize,
    nodata: Option<f64>,
    gt: Option<[f64; 6]>,
    f: impl Fn(usize, usize, usize) -> T,
) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let driver = DriverManager::get_driver_by_name("GTiff").unwrap();
    let mut ds = driver.create_with_band_type::<T, _>(path, w, h, bands).unwrap();
    if let Some(gt) = gt {
        ds.set_geo_transform(&gt).unwrap();
    }
    for b in 1..=bands {
        let mut band = ds.rasterband(b).unwrap();
        band.set_no_data_value(nodata).unwrap();
        let data: Vec<T> = (0..h).flat_map(|y| (0..w).map(move |x| (y, x))).map(|(y, x)| f(b, y, x)).collect();
        band.write((0, 0), (w, h), &mut Buffer::new((w, h), data)).unwrap();
    }
}

fn close(a: f32, b: f32) -> bool {
    (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-6 * b.abs().max(1.0)
}

fn assert_close(found: &[f32], expected: &[f32], what: &str) {
    assert_eq!(found.len(), expected.len(), "{what}: length");
    for (i, (a, b)) in found.iter().zip(expected).enumerate() {
        assert!(close(*a, *b), "{what}: element {i} is {a}, expected {b}");
    }
}

// ---------------------------------------------------------------- chip folders (EuroSAT layout)

const CHIP: usize = 8;
const EUROSAT_BANDS: usize = 13;
const NODATA: u16 = 65535;

/// Raw value of band `b` (1-based) at (y, x) of chip `chip` of the class with sorted id `class`.
fn eurosat_raw(class: usize, chip: usize, b: usize, y: usize, x: usize) -> u16 {
    (10000 * class + 1000 * chip + 64 * (b - 1) + 8 * y + x) as u16
}

/// Three classes written out of order (ids follow the sorted names: AnnualCrop 0, Forest 1,
/// River 2), two chips each (`_1.tif`, `_2.TIF`), and a file that is not a chip. Chip River_2
/// has nodata 65535 at (y 2, x 3) of band 5.
fn eurosat_tree(root: &Path) {
    for (class, name) in [(2, "River"), (0, "AnnualCrop"), (1, "Forest")] {
        for (chip, ext) in [(0, "tif"), (1, "TIF")] {
            let path = root.join(name).join(format!("{name}_{}.{ext}", chip + 1));
            let hole = class == 2 && chip == 1;
            write_tif::<u16>(&path, CHIP, CHIP, EUROSAT_BANDS, hole.then_some(NODATA as f64), None, |b, y, x| {
                if hole && (b, y, x) == (5, 2, 3) {
                    NODATA
                } else {
                    eurosat_raw(class, chip, b, y, x)
                }
            });
        }
        fs::write(root.join(name).join("notes.txt"), "not a chip").unwrap();
    }
}

#[test]
fn chip_folders_classes_units_and_band_selection() {
    let dir = tempfile::tempdir().unwrap();
    eurosat_tree(dir.path());
    let bands = [4, 3, 2];
    let (scale, offset) = (1e-4, [0.1, 0.2, 0.3]);
    let data = ChipFolders::open(dir.path(), &bands, &[scale], &offset).unwrap();

    assert_eq!(data.len(), 6);
    assert_eq!(data.class_names(), vec!["AnnualCrop", "Forest", "River"]);
    assert_eq!(data.target(), Target::Class { classes: 3 });
    assert_eq!(data.input_shape(), [3, CHIP, CHIP]);
    let spec = data.input_spec();
    assert_eq!(spec.bands, bands);
    assert_eq!(spec.scale, vec![scale; 3]);
    assert_eq!(spec.offset, offset);
    for i in 0..6 {
        let (class, chip) = (i / 2, i % 2);
        assert_eq!(data.class_of(i), Some(class), "class_of({i})");
        let ex = data.example(i).unwrap();
        assert_eq!(ex.y, vec![class as f32], "target of example {i}");
        let mut expected = Vec::new();
        for (k, &b) in bands.iter().enumerate() {
            for y in 0..CHIP {
                for x in 0..CHIP {
                    expected.push((eurosat_raw(class, chip, b, y, x) as f64 * scale + offset[k]) as f32);
                }
            }
        }
        // Band 5 is not selected, so River_2's nodata pixel is valid here.
        assert_close(&ex.x, &expected, &format!("example {i}"));
    }

    let d = data.describe();
    assert_eq!(d["kind"], "chip_folders");
    assert_eq!(d["classes"][2]["name"], "River");
    assert_eq!(d["classes"][2]["chips"], 2);
    assert_eq!(d["chip_size"]["width"], CHIP);
    assert_eq!(d["chips"], 6);
}

#[test]
fn chip_folders_all_bands_and_nodata() {
    let dir = tempfile::tempdir().unwrap();
    eurosat_tree(dir.path());
    // No band list: all 13 bands of the first chip, raw values (scale 1, offset 0).
    let data = ChipFolders::open(dir.path(), &[], &[], &[]).unwrap();
    assert_eq!(data.input_shape(), [EUROSAT_BANDS, CHIP, CHIP]);
    assert_eq!(data.input_spec().bands, (1..=EUROSAT_BANDS).collect::<Vec<_>>());
    let ex = data.example(5).unwrap();
    for b in 1..=EUROSAT_BANDS {
        for y in 0..CHIP {
            for x in 0..CHIP {
                let v = ex.x[((b - 1) * CHIP + y) * CHIP + x];
                if (y, x) == (2, 3) {
                    // Invalid in band 5 makes the pixel invalid in every band (as `rastrum run`).
                    assert!(v.is_nan(), "band {b} at the nodata pixel is {v}, expected NaN");
                } else {
                    assert_eq!(v, eurosat_raw(2, 1, b, y, x) as f32, "band {b} ({y}, {x})");
                }
            }
        }
    }
}

fn err_text<T>(r: rastrum::Result<T>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => {
            eprintln!("error as reported: {e}");
            e.to_string()
        }
    }
}

#[test]
fn chip_folders_errors_name_the_problem() {
    // A chip with fewer bands than selected, read after the (good) first chip.
    let dir = tempfile::tempdir().unwrap();
    eurosat_tree(dir.path());
    let thin = dir.path().join("River").join("River_3.tif");
    write_tif::<u16>(&thin, CHIP, CHIP, 10, None, None, |_, _, _| 1);
    let data = ChipFolders::open(dir.path(), &[2, 13], &[], &[]).unwrap();
    assert_eq!(data.len(), 7);
    assert!(data.example(5).is_ok());
    let e = err_text(data.example(6));
    assert!(e.contains("River_3.tif") && e.contains("10 band(s)") && e.contains("band 13"), "{e}");

    // A chip of another size.
    let dir = tempfile::tempdir().unwrap();
    eurosat_tree(dir.path());
    let small = dir.path().join("Forest").join("Forest_3.tif");
    write_tif::<u16>(&small, 6, 6, EUROSAT_BANDS, None, None, |_, _, _| 1);
    let data = ChipFolders::open(dir.path(), &[], &[], &[]).unwrap();
    let i = data.chips().iter().position(|(p, _)| p == &small).unwrap();
    let e = err_text(data.example(i));
    assert!(e.contains("Forest_3.tif") && e.contains("6x6") && e.contains("8x8"), "{e}");

    // A band the first chip does not have.
    let e = err_text(ChipFolders::open(dir.path(), &[14], &[], &[]));
    assert!(e.contains("AnnualCrop_1.tif") && e.contains("band 14"), "{e}");

    // Scale with the wrong number of values.
    let e = err_text(ChipFolders::open(dir.path(), &[1, 2], &[1.0, 2.0, 3.0], &[]));
    assert!(e.contains("scale") && e.contains("3 values for 2 bands"), "{e}");

    // An empty class folder, then no class folder at all.
    fs::create_dir(dir.path().join("Empty")).unwrap();
    let e = err_text(ChipFolders::open(dir.path(), &[], &[], &[]));
    assert!(e.contains("Empty") && e.contains("no GeoTIFF chip"), "{e}");
    let none = tempfile::tempdir().unwrap();
    let e = err_text(ChipFolders::open(none.path(), &[], &[], &[]));
    assert!(e.contains("no class folder"), "{e}");
}

// ---------------------------------------------------------------- So2Sat LCZ42 (HDF5)

const SIDE: usize = 32;

/// A fixture's value at (example, row, column, channel).
type Encode = fn(usize, usize, usize, usize) -> f64;

/// sen2 value at example n, row h, column w, channel c (exact in f32 and f64).
fn sen2_value(n: usize, h: usize, w: usize, c: usize) -> f64 {
    (n * 100_000 + h * 1000 + w * 10 + c) as f64
}

/// sen1 value: negative, with a half, so sen1 and sen2 cannot be confused.
fn sen1_value(n: usize, h: usize, w: usize, c: usize) -> f64 {
    -((n * 100_000 + h * 1000 + w * 10 + c) as f64) - 0.5
}

fn nhwc(name: &'static str, dtype: &'static str, n: usize, c: usize, f: Encode) -> Array {
    let cdim = if c == 8 { "c1" } else { "c2" };
    let mut values = Vec::with_capacity(n * SIDE * SIDE * c);
    for e in 0..n {
        for h in 0..SIDE {
            for w in 0..SIDE {
                for ch in 0..c {
                    values.push(f(e, h, w, ch));
                }
            }
        }
    }
    Array { name, dtype, dims: vec![("n", n), ("h", SIDE), ("w", SIDE), (cdim, c)], values }
}

fn one_hot(classes: &[usize], width: usize) -> Array {
    let values = classes.iter().flat_map(|&k| (0..width).map(move |j| if j == k { 1.0 } else { 0.0 })).collect();
    Array { name: "label", dtype: "Float64", dims: vec![("n", classes.len()), ("k", width)], values }
}

const LABELS: [usize; 3] = [4, 0, 16];

fn so2sat_fixture(path: &Path) {
    write_h5(
        path,
        &[nhwc("sen1", "Float32", 3, 8, sen1_value), nhwc("sen2", "Float64", 3, 10, sen2_value), one_hot(&LABELS, 17)],
    );
}

/// The expected CHW input of example `n` for 1-based stack channels `channels`.
fn so2sat_expected(n: usize, stack: &[(Encode, usize)], channels: &[usize]) -> Vec<f32> {
    let mut table = Vec::new();
    for &(f, c) in stack {
        for ch in 0..c {
            table.push((f, ch));
        }
    }
    let mut out = Vec::new();
    for &s in channels {
        let (f, ch) = table[s - 1];
        for h in 0..SIDE {
            for w in 0..SIDE {
                out.push(f(n, h, w, ch) as f32);
            }
        }
    }
    out
}

#[test]
fn so2sat_hdf5_driver_reads_the_fixture() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("training.h5");
    so2sat_fixture(&path);
    // GDAL's HDF5 driver itself, and no other, reads the file.
    let options = DatasetOptions {
        open_flags: GdalOpenFlags::GDAL_OF_MULTIDIM_RASTER,
        allowed_drivers: Some(&["HDF5"]),
        ..Default::default()
    };
    let ds = gdal::Dataset::open_ex(&path, options).unwrap();
    assert_eq!(ds.driver().short_name(), "HDF5");
    let root = ds.root_group().unwrap();
    let sen2 = root.open_md_array("sen2", Default::default()).unwrap();
    let v: Vec<f64> = sen2.read_as(vec![2, 5, 7, 0], vec![1, 1, 1, 10]).unwrap();
    assert_eq!(v, (0..10).map(|c| sen2_value(2, 5, 7, c)).collect::<Vec<_>>());

    // The reader on the same file (whichever driver GDAL picks), sen2 by default.
    let data = So2Sat::open(&path, So2SatSource::Sen2, &[], &[], &[], Some(17)).unwrap();
    eprintln!("So2Sat reader opened the fixture with GDAL driver {}", data.driver());
    assert_eq!(data.len(), 3);
    assert_eq!(data.input_shape(), [10, SIDE, SIDE]);
    assert_eq!(data.target(), Target::Class { classes: 17 });
    assert_eq!(data.class_names(), LCZ_NAMES.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    let spec = data.input_spec();
    assert_eq!(spec.bands, (1..=10).collect::<Vec<_>>());
    assert_eq!(spec.band_names[0], "sen2 B2");
    assert_eq!(spec.band_names[7], "sen2 B8A");
    let all: Vec<usize> = (1..=10).collect();
    // Shuffled order first (single reads), then in order (block reads), then again.
    for i in [2, 0, 1, 0, 1, 2, 1] {
        assert_eq!(data.class_of(i), Some(LABELS[i]));
        let ex = data.example(i).unwrap();
        assert_eq!(ex.y, vec![LABELS[i] as f32]);
        assert_eq!(ex.x, so2sat_expected(i, &[(sen2_value, 10)], &all), "example {i}");
    }
    assert!(data.example(3).is_err());
    let d = data.describe();
    assert_eq!(d["kind"], "so2sat");
    assert_eq!(d["examples"], 3);
    assert_eq!(d["classes"][4]["examples"], 1);
    assert_eq!(d["classes"][4]["name"], "Open mid-rise");

    // The same file named .nc is taken by the netCDF driver: the reader does not care.
    let nc = dir.path().join("training.nc");
    fs::copy(&path, &nc).unwrap();
    let data = So2Sat::open(&nc, So2SatSource::Sen2, &[], &[], &[], None).unwrap();
    eprintln!("So2Sat reader opened the .nc copy with GDAL driver {}", data.driver());
    assert_eq!(data.example(1).unwrap().x, so2sat_expected(1, &[(sen2_value, 10)], &all));
}

#[test]
fn so2sat_sen1_and_sen2_stack_with_channel_selection_and_units() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("validation.h5");
    so2sat_fixture(&path);
    let stack: [(Encode, usize); 2] = [(sen1_value, 8), (sen2_value, 10)];

    // Both: sen1's 8 channels, then sen2's 10; pick across the seam, out of order.
    let channels = [9, 1, 8, 18, 12];
    let data = So2Sat::open(&path, So2SatSource::Both, &channels, &[], &[], None).unwrap();
    assert_eq!(data.input_shape(), [5, SIDE, SIDE]);
    assert_eq!(data.input_spec().band_names, vec!["sen2 B2", "sen1 ch1", "sen1 ch8", "sen2 B12", "sen2 B5"]);
    for i in 0..3 {
        assert_eq!(data.example(i).unwrap().x, so2sat_expected(i, &stack, &channels), "example {i}");
    }

    // sen1 alone, in input units.
    let (scale, offset) = (0.5, [1.0, -1.0]);
    let data = So2Sat::open(&path, So2SatSource::Sen1, &[3, 8], &[scale], &offset, None).unwrap();
    let ex = data.example(2).unwrap();
    let mut expected = Vec::new();
    for (k, ch) in [2, 7].into_iter().enumerate() {
        for h in 0..SIDE {
            for w in 0..SIDE {
                expected.push((sen1_value(2, h, w, ch) * scale + offset[k]) as f32);
            }
        }
    }
    assert_close(&ex.x, &expected, "sen1 in input units");

    let e = err_text(So2Sat::open(&path, So2SatSource::Sen2, &[11], &[], &[], None));
    assert!(e.contains("channel 11") && e.contains("10 channels"), "{e}");
    assert!(So2SatSource::parse("sen1+sen2").unwrap() == So2SatSource::Both);
    assert!(So2SatSource::parse("sen3").is_err());
}

#[test]
fn so2sat_layout_errors_name_the_dataset() {
    let dir = tempfile::tempdir().unwrap();

    // A label row with two ones, and one with none.
    for (name, bad_row) in [("two.h5", vec![0.0, 1.0, 1.0]), ("none.h5", vec![0.0, 0.0, 0.0])] {
        let path = dir.path().join(name);
        let mut label = one_hot(&[0, 1, 2], 3);
        label.values[3..6].copy_from_slice(&bad_row);
        write_h5(&path, &[nhwc("sen2", "Float32", 3, 10, sen2_value), label]);
        let e = err_text(So2Sat::open(&path, So2SatSource::Sen2, &[], &[], &[], None));
        assert!(e.contains("label") && e.contains("row 1") && e.contains("not one-hot"), "{e}");
    }

    // sen2 with 9 channels.
    let path = dir.path().join("channels.h5");
    write_h5(&path, &[nhwc("sen2", "Float32", 2, 9, sen2_value), one_hot(&[0, 1], 17)]);
    let e = err_text(So2Sat::open(&path, So2SatSource::Sen2, &[], &[], &[], None));
    assert!(e.contains("\"sen2\"") && e.contains("[2, 32, 32, 9]") && e.contains("[2, 32, 32, 10]"), "{e}");

    // Fewer labels than images, a missing sen1, and a label width that is not the classes asked.
    let path = dir.path().join("count.h5");
    let mut label = one_hot(&[0, 1], 17);
    label.dims[0].0 = "m";
    write_h5(&path, &[nhwc("sen2", "Float32", 3, 10, sen2_value), label]);
    let e = err_text(So2Sat::open(&path, So2SatSource::Sen2, &[], &[], &[], None));
    assert!(e.contains("\"sen2\"") && e.contains("[3, 32, 32, 10]") && e.contains("[2, 32, 32, 10]"), "{e}");
    let e = err_text(So2Sat::open(&path, So2SatSource::Both, &[], &[], &[], None));
    assert!(e.contains("\"sen1\"") && e.contains("sen2"), "{e}");
    let e = err_text(So2Sat::open(&path, So2SatSource::Sen2, &[], &[], &[], Some(10)));
    assert!(e.contains("label") && e.contains("17 classes") && e.contains("expected 10"), "{e}");

    let e = err_text(So2Sat::open(&dir.path().join("missing.h5"), So2SatSource::Sen2, &[], &[], &[], None));
    assert!(e.contains("missing.h5") && e.contains("does not exist"), "{e}");
}

// ---------------------------------------------------------------- super-resolution pairs

const F: usize = 3;
const HIGH: usize = 12;
const SR_NODATA: f32 = -9999.0;

/// High-resolution raw value: irregular within each 3x3 block so that a mean is not a centre.
fn high_raw(b: usize, y: usize, x: usize) -> f32 {
    (b * 1000 + y * HIGH + x) as f32 + ((x * 7 + y * 3) % 5) as f32 * 0.25
}

/// Invalid high pixels: (4, 4) in band 1, and the whole block of low pixel (2, 2) in band 2.
fn high_invalid(b: usize, y: usize, x: usize) -> bool {
    (b == 1 && (y, x) == (4, 4)) || (b == 2 && (6..9).contains(&y) && (6..9).contains(&x))
}

fn sr_high(path: &Path, gt: Option<[f64; 6]>) {
    write_tif::<f32>(path, HIGH, HIGH, 2, Some(SR_NODATA as f64), gt, |b, y, x| {
        if high_invalid(b, y, x) {
            SR_NODATA
        } else {
            high_raw(b, y, x)
        }
    });
}

#[test]
fn sr_from_high_is_the_area_mean_of_its_target() {
    let dir = tempfile::tempdir().unwrap();
    let high = dir.path().join("high.tif");
    sr_high(&high, None);
    let (scale, offset) = (0.5, [1.0, -2.0]);
    let units = |b: usize, y: usize, x: usize| -> Option<f64> {
        let bad = high_invalid(1, y, x) || high_invalid(2, y, x);
        (!bad).then(|| high_raw(b, y, x) as f64 * scale + offset[b - 1])
    };
    let lr = 2;

    // Default: only chips whose 6x6 high-resolution window is entirely valid.
    let data = SrPairs::from_high(&high, &[1, 2], &[scale], &offset, F, lr, 1, 1.0).unwrap();
    let mut expected_origins = Vec::new();
    for y in 0..=HIGH / F - lr {
        for x in 0..=HIGH / F - lr {
            let clean = (0..lr * F).all(|dy| (0..lr * F).all(|dx| units(1, y * F + dy, x * F + dx).is_some()));
            if clean {
                expected_origins.push((x, y));
            }
        }
    }
    assert_eq!(data.origins, expected_origins);
    assert_eq!(expected_origins, vec![(2, 0), (0, 2)]);
    assert_eq!(data.target(), Target::Image { channels: 2, scale: F });
    assert_eq!(data.input_shape(), [2, lr, lr]);
    assert_eq!(data.footprint(1), Some((0, 2, lr, lr)));

    // Every chip with a valid pixel: chip (1, 1) holds low pixel (1, 1) with 8 valid high pixels
    // of 9, and low pixel (2, 2) with none.
    let data = SrPairs::from_high(&high, &[1, 2], &[scale], &offset, F, lr, 1, 0.0).unwrap();
    assert_eq!(data.len(), 9);
    for (i, &(x0, y0)) in data.origins.iter().enumerate() {
        assert_eq!(data.footprint(i), Some((x0, y0, lr, lr)));
        let ex = data.example(i).unwrap();
        let (mut input, mut target) = (Vec::new(), Vec::new());
        for b in 1..=2 {
            for ly in 0..lr {
                for lx in 0..lr {
                    let block: Vec<f64> =
                        (0..F * F).filter_map(|k| units(b, (y0 + ly) * F + k / F, (x0 + lx) * F + k % F)).collect();
                    let mean = block.iter().sum::<f64>() / block.len() as f64;
                    input.push(if block.is_empty() { f32::NAN } else { mean as f32 });
                }
            }
            for hy in 0..lr * F {
                for hx in 0..lr * F {
                    target.push(units(b, y0 * F + hy, x0 * F + hx).map_or(f32::NAN, |v| v as f32));
                }
            }
        }
        assert_close(&ex.x, &input, &format!("input of chip ({x0}, {y0})"));
        assert_close(&ex.y, &target, &format!("target of chip ({x0}, {y0})"));
        if (x0, y0) == (1, 1) {
            assert!(!ex.x[0].is_nan() && ex.x[3].is_nan() && ex.x[7].is_nan());
        }
    }
    let d = data.describe();
    assert_eq!(d["kind"], "sr_pairs");
    assert_eq!(d["scale_factor"], F);
    assert_eq!(d["chips"], 9);
}

fn gt(x0: f64, y0: f64, pixel: f64) -> Option<[f64; 6]> {
    Some([x0, pixel, 0.0, y0, 0.0, -pixel])
}

#[test]
fn sr_paired_rasters() {
    let dir = tempfile::tempdir().unwrap();
    let low = dir.path().join("low.tif");
    let high = dir.path().join("high.tif");
    let low_raw = |b: usize, y: usize, x: usize| (b * 100 + y * 4 + x) as f32;
    write_tif::<f32>(&low, 4, 4, 2, None, gt(500.0, 900.0, 30.0), low_raw);
    sr_high(&high, gt(504.0, 896.0, 10.0));

    let data = SrPairs::paired(&low, &high, &[2, 1], &[], &[], 2, 2, 1.0).unwrap();
    // Grid (0, 0), (2, 0), (0, 2), (2, 2); low (2, 2) has no valid high pixel, and low (1, 1) one
    // invalid one: only (2, 0) and (0, 2) are entirely valid.
    assert_eq!(data.origins, vec![(2, 0), (0, 2)]);
    assert_eq!(data.target(), Target::Image { channels: 2, scale: 3 });
    for (i, &(x0, y0)) in data.origins.iter().enumerate() {
        let ex = data.example(i).unwrap();
        let (mut input, mut target) = (Vec::new(), Vec::new());
        for b in [2, 1] {
            for y in 0..2 {
                for x in 0..2 {
                    input.push(low_raw(b, y0 + y, x0 + x));
                }
            }
            for y in 0..6 {
                for x in 0..6 {
                    target.push(high_raw(b, y0 * F + y, x0 * F + x));
                }
            }
        }
        assert_eq!(ex.x, input, "input of chip ({x0}, {y0})");
        assert_eq!(ex.y, target, "target of chip ({x0}, {y0})");
    }
    assert_eq!(data.describe()["low"], low.display().to_string());

    // Sizes that are not one integer factor apart.
    let odd = dir.path().join("odd.tif");
    write_tif::<f32>(&odd, 12, 11, 2, None, None, |_, _, _| 0.0);
    let e = err_text(SrPairs::paired(&low, &odd, &[1], &[], &[], 2, 2, 1.0));
    assert!(e.contains("odd.tif") && e.contains("12x11") && e.contains("4x4"), "{e}");

    // Origins 6 m apart with 10 m high-resolution pixels: more than half a pixel.
    let shifted = dir.path().join("shifted.tif");
    sr_high(&shifted, gt(506.0, 900.0, 10.0));
    let e = err_text(SrPairs::paired(&low, &shifted, &[1], &[], &[], 2, 2, 1.0));
    assert!(e.contains("origin") && e.contains("co-registered"), "{e}");
    // The same origin but 11 m pixels: the far corners disagree.
    let stretched: PathBuf = dir.path().join("stretched.tif");
    sr_high(&stretched, gt(500.0, 900.0, 11.0));
    let e = err_text(SrPairs::paired(&low, &stretched, &[1], &[], &[], 2, 2, 1.0));
    assert!(e.contains("far corner"), "{e}");
}
