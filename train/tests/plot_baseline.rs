//! Figures (`plot`) and the random-forest baseline (`baseline`), against expectations computed
//! here: PNG headers read by hand, pixels read back through GDAL at cell positions derived from
//! the documented geometry, statistics computed by hand.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rastrum_train::baseline::{features, RandomForest};
use rastrum_train::plot::{self, Panel};

/// (width, height) from the PNG signature and IHDR chunk, read by hand.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}: not a PNG", path.display());
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
    (be(16), be(20))
}

/// All pixels as RGB, through GDAL's PNG driver.
fn pixels(path: &Path) -> (usize, usize, Vec<[u8; 3]>) {
    let ds = gdal::Dataset::open(path).unwrap();
    let (w, h) = ds.raster_size();
    assert!(ds.raster_count() >= 3, "expected an RGB(A) image");
    let band =
        |b| ds.rasterband(b).unwrap().read_as::<u8>((0, 0), (w, h), (w, h), None).unwrap().into_shape_and_vec().1;
    let (r, g, b) = (band(1), band(2), band(3));
    (w, h, (0..w * h).map(|i| [r[i], g[i], b[i]]).collect())
}

fn colours(path: &Path) -> usize {
    pixels(path).2.into_iter().collect::<HashSet<_>>().len()
}

/// Names in the folder: the figure must be alone (no temporary file left behind).
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn curves_png_has_panel_size_colours_and_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("curves.png");
    let train = [0.9, 0.7, f64::NAN, 0.4, 0.35, f64::INFINITY, 0.3];
    let val = [1.0, 0.8, 0.6, 0.55, 0.5, 0.5, 0.52];
    let acc = [0.3, 0.5, 0.6, 0.7, 0.72, 0.75, 0.74];
    let losses: &[(&str, &[f64])] = &[("train", &train), ("validation", &val)];
    let metric: &[(&str, &[f64])] = &[("accuracy", &acc)];
    let panels = [
        Panel { title: "loss", y_label: "cross-entropy", series: losses },
        Panel { title: "validation accuracy", y_label: "accuracy", series: metric },
    ];
    plot::curves(&out, "So2Sat ResNet-18", "epoch", &panels).unwrap();
    assert_eq!(png_size(&out), (900, 720), "900 wide, 360 per panel");
    let (w, h, _) = pixels(&out);
    assert_eq!((w, h), (900, 720));
    assert!(colours(&out) > 1, "the figure is blank");
    assert_eq!(listing(dir.path()), ["curves.png"]);
}

#[test]
fn curves_handle_one_epoch_empty_and_non_finite_series() {
    let dir = tempfile::tempdir().unwrap();
    let one: &[(&str, &[f64])] = &[("train", &[0.5]), ("validation", &[])];
    let none: &[(&str, &[f64])] = &[];
    let bad: &[(&str, &[f64])] = &[("nan", &[f64::NAN, f64::NAN]), ("inf", &[f64::INFINITY, f64::NEG_INFINITY])];
    let flat: &[(&str, &[f64])] = &[("constant", &[2.0, 2.0, 2.0])];
    for (name, series) in [("one", one), ("none", none), ("bad", bad), ("flat", flat)] {
        let out = dir.path().join(format!("{name}.png"));
        plot::curves(&out, name, "epoch", &[Panel { title: name, y_label: "loss", series }]).unwrap();
        assert_eq!(png_size(&out), (900, 360), "{name}");
        assert!(colours(&out) > 1, "{name}: blank figure (the axes at least are drawn)");
    }
    // The one-epoch figure shows its point: more colours than the empty one (the marker's blue).
    let blue = |p: &[u8; 3]| p[2] > 150 && p[0] < 80;
    assert!(pixels(&dir.path().join("one.png")).2.iter().any(blue), "the single epoch is not drawn");
    assert!(!pixels(&dir.path().join("none.png")).2.iter().any(blue), "an empty panel draws a line");

    let err = plot::curves(&dir.path().join("x.png"), "t", "epoch", &[]).unwrap_err();
    assert!(err.to_string().contains("no panel"), "{err}");
    assert_eq!(listing(dir.path()).len(), 4, "a refused figure leaves nothing");
}

#[test]
fn unwritable_path_is_an_error_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let series: &[(&str, &[f64])] = &[("loss", &[1.0, 0.5])];
    let panels = [Panel { title: "loss", y_label: "loss", series }];
    let names = vec!["a".to_string(), "b".to_string()];
    let matrix = vec![vec![3, 1], vec![0, 4]];

    // Missing folder: the temporary file cannot even be written.
    let missing = dir.path().join("missing").join("x.png");
    let err = plot::curves(&missing, "t", "epoch", &panels).unwrap_err();
    assert!(err.to_string().contains("x.png"), "the error names the file: {err}");
    assert!(plot::confusion(&missing, &matrix, &names, "t").is_err());
    assert!(listing(dir.path()).is_empty());

    // The destination is a folder: drawing succeeds, the rename fails, the temporary goes.
    let folder = dir.path().join("taken.png");
    std::fs::create_dir(&folder).unwrap();
    assert!(plot::curves(&folder, "t", "epoch", &panels).is_err());
    assert!(plot::confusion(&folder, &matrix, &names, "t").is_err());
    assert_eq!(listing(dir.path()), ["taken.png"]);
    assert!(listing(&folder).is_empty());
}

/// Luminance-ish darkness: lower sum = darker.
fn sum(p: [u8; 3]) -> u32 {
    p.iter().map(|&v| v as u32).sum()
}

/// Pixel at fractions (fx, fy) of cell (i, j) of an n x n grid, from the documented geometry:
/// grid square of 640 px at (170, 50).
fn cell_pixel(img: &(usize, usize, Vec<[u8; 3]>), n: usize, i: usize, j: usize, f: f64) -> [u8; 3] {
    let cell = 640.0 / n as f64;
    let x = (170.0 + (j as f64 + f) * cell) as usize;
    let y = (50.0 + (i as f64 + f) * cell) as usize;
    img.2[y * img.0 + x]
}

#[test]
fn confusion_diagonal_is_darker_and_empty_cells_white() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("confusion.png");
    let matrix = vec![vec![50, 2, 1], vec![3, 40, 2], vec![0, 1, 30]];
    let names: Vec<String> = ["water", "a very long class name indeed", "urban"].map(String::from).into();
    plot::confusion(&out, &matrix, &names, "confusion").unwrap();
    assert_eq!(png_size(&out), (840, 840));
    assert_eq!(listing(dir.path()), ["confusion.png"]);
    let img = pixels(&out);
    // Sample away from the centre, where the count is written.
    let at = |i, j| sum(cell_pixel(&img, 3, i, j, 0.2));
    let darkest_off = (0..3).flat_map(|i| (0..3).map(move |j| (i, j))).filter(|(i, j)| i != j).map(|(i, j)| at(i, j));
    let lightest_diag = (0..3).map(|k| at(k, k)).max().unwrap();
    assert!(
        darkest_off.clone().all(|v| v > lightest_diag),
        "diagonal {lightest_diag} vs off {:?}",
        darkest_off.collect::<Vec<_>>()
    );
    // Reference 2 was never predicted as 0: a row-normalised value of 0 is white.
    assert_eq!(cell_pixel(&img, 3, 2, 0, 0.2), [255, 255, 255]);
    // Row 0 is 50/53 in its diagonal cell: close to the darkest colour, far from white.
    assert!(at(0, 0) < 300, "{}", at(0, 0));
}

#[test]
fn confusion_with_many_classes_skips_counts_but_keeps_the_colours() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("many.png");
    let n = 25;
    let matrix: Vec<Vec<u64>> =
        (0..n).map(|i| (0..n).map(|j| if i == j { 20 } else { (i + j) as u64 % 2 }).collect()).collect();
    let names: Vec<String> = (0..n).map(|i| format!("class {i}")).collect();
    plot::confusion(&out, &matrix, &names, "25 classes").unwrap();
    let img = pixels(&out);
    assert_eq!((img.0, img.1), (840, 840));
    // No count is written past 20 classes, so even the centres are the cell colour.
    for i in 0..n {
        let diag = sum(cell_pixel(&img, n, i, i, 0.5));
        let off = sum(cell_pixel(&img, n, i, (i + 1) % n, 0.5));
        assert!(diag < off, "row {i}: diagonal {diag} not darker than {off}");
    }
}

#[test]
fn confusion_rejects_inconsistent_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("c.png");
    let two: Vec<String> = vec!["a".into(), "b".into()];
    assert!(plot::confusion(&out, &[], &[], "t").is_err());
    assert!(plot::confusion(&out, &[vec![1, 2], vec![3]], &two, "t").is_err());
    let err = plot::confusion(&out, &[vec![1, 2], vec![3, 4]], &two[..1], "t").unwrap_err();
    assert!(err.to_string().contains("class names"), "{err}");
    assert!(listing(dir.path()).is_empty());
}

/// Runs `no_font_child` in a child process whose fontconfig knows no font (fontconfig is set up
/// once per process): the figures must still be written, without text.
#[test]
fn figures_are_written_without_fonts() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("fonts.conf");
    std::fs::write(&conf, "<?xml version=\"1.0\"?>\n<fontconfig></fontconfig>\n").unwrap();
    let figures = dir.path().join("figures");
    std::fs::create_dir(&figures).unwrap();
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "no_font_child", "--test-threads=1", "--nocapture"])
        .env("FONTCONFIG_FILE", &conf)
        .env("FONTCONFIG_PATH", dir.path())
        .env("XDG_CACHE_HOME", dir.path())
        .env("RASTRUM_NO_FONT_DIR", &figures)
        .status()
        .unwrap();
    assert!(status.success(), "child failed: {status}");
    assert_eq!(listing(&figures), ["confusion.png", "curves.png"]);
    assert_eq!(png_size(&figures.join("curves.png")), (900, 360));
    assert_eq!(png_size(&figures.join("confusion.png")), (840, 840));
    assert!(colours(&figures.join("curves.png")) > 1);
}

#[test]
fn no_font_child() {
    let Some(dir) = std::env::var_os("RASTRUM_NO_FONT_DIR").map(PathBuf::from) else { return };
    assert!(!plot::fonts_available(), "the empty fontconfig still found a font");
    let series: &[(&str, &[f64])] = &[("loss", &[1.0, 0.5, 0.25])];
    plot::curves(&dir.join("curves.png"), "t", "epoch", &[Panel { title: "loss", y_label: "loss", series }]).unwrap();
    let names: Vec<String> = vec!["a".into(), "b".into()];
    plot::confusion(&dir.join("confusion.png"), &[vec![3, 1], vec![0, 4]], &names, "t").unwrap();
}

#[test]
fn features_are_per_band_mean_std_min_max_skipping_nan() {
    let nan = f32::NAN;
    // [C=3, H=2, W=2]
    #[rustfmt::skip]
    let chip = [
        1.0, 2.0, nan, 3.0,    // mean 2, std sqrt(2/3), min 1, max 3
        nan, nan, nan, nan,    // no valid pixel: zeros
        -4.0, 4.0, -4.0, 4.0,  // mean 0, std 4, min -4, max 4
    ];
    let f = features(&chip, [3, 2, 2]);
    let want = [2.0, (2.0f32 / 3.0).sqrt(), 1.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 4.0, -4.0, 4.0];
    assert_eq!(f.len(), want.len());
    for (k, (a, b)) in f.iter().zip(want).enumerate() {
        assert!((a - b).abs() < 1e-6, "feature {k}: {a} != {b}");
    }
    // A constant band has zero spread (no negative variance from rounding).
    assert_eq!(features(&[1e4; 9], [1, 3, 3]), [1e4, 0.0, 1e4, 1e4]);
}

/// Deterministic points: class 0 around (0, 0, 0, 0), class 1 around (10, 10, 10, 10), noise in
/// [-2, 2) from a linear congruential generator.
fn blobs(per_class: usize, state: &mut u64) -> (Vec<Vec<f32>>, Vec<usize>) {
    let mut noise = || {
        *state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*state >> 33) as f32 / (1u64 << 31) as f32) * 4.0 - 2.0
    };
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for i in 0..2 * per_class {
        let class = i % 2;
        x.push((0..4).map(|_| class as f32 * 10.0 + noise()).collect());
        y.push(class);
    }
    (x, y)
}

#[test]
fn forest_separates_two_classes_and_is_deterministic() {
    let mut state = 42;
    let (train_x, train_y) = blobs(60, &mut state);
    let (test_x, test_y) = blobs(40, &mut state);
    let forest = RandomForest::fit(&train_x, &train_y, 25, 7).unwrap();
    let predicted = forest.predict(&test_x).unwrap();
    let right = predicted.iter().zip(&test_y).filter(|(p, t)| p == t).count();
    let accuracy = right as f64 / test_y.len() as f64;
    assert!(accuracy >= 0.95, "held-out accuracy {accuracy}");

    let again = RandomForest::fit(&train_x, &train_y, 25, 7).unwrap().predict(&test_x).unwrap();
    assert_eq!(predicted, again, "same seed, same data: same predictions");
    assert!(forest.predict(&[]).unwrap().is_empty());
}

#[test]
fn forest_rejects_bad_input_with_clear_errors() {
    let rows = vec![vec![0.0, 1.0], vec![1.0, 0.0]];
    let msg = |r: rastrum::Result<RandomForest>| r.err().expect("expected an error").to_string();
    assert!(msg(RandomForest::fit(&[], &[], 10, 0)).contains("empty training set"));
    assert!(msg(RandomForest::fit(&[vec![0.0, 1.0], vec![1.0]], &[0, 1], 10, 0)).contains("row 1"));
    assert!(msg(RandomForest::fit(&rows, &[0], 10, 0)).contains("labels"));
    assert!(msg(RandomForest::fit(&rows, &[0, 1], 0, 0)).contains("trees"));
    assert!(msg(RandomForest::fit(&[vec![f32::NAN, 1.0], vec![1.0, 0.0]], &[0, 1], 10, 0)).contains("NaN"));
    let forest = RandomForest::fit(&rows, &[0, 1], 10, 0).unwrap();
    let err = forest.predict(&[vec![1.0, 2.0, 3.0]]).unwrap_err().to_string();
    assert!(err.contains("expected 2"), "{err}");
}
