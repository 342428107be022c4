//! PNG figures shared by `rastrum eval` and the trainer: the confusion-matrix heat map, and the
//! atomic PNG writer that every figure goes through (the trainer draws its curves with it).
//!
//! Files are written atomically (a hidden temporary `.png` in the same folder, then a rename:
//! `crate::atomic`), so a reader never sees a partial figure and a failure leaves nothing behind.
//!
//! Text goes through plotters' `ttf` feature (font-kit + fontconfig). Where no font can be found
//! (a bare container without fonts) the figures are still drawn, without any text: the colours
//! are the useful part, and failing a run over a missing font would be worse.
//! [`fonts_available`] tells which case applies. Plotters can panic inside its drawing code;
//! such panics are caught and returned as errors.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::atomic::TempFile;
use crate::error::{Error, Result};

/// The drawing area of a figure being written by [`write_png`].
pub type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;
/// What a drawing closure returns: plotters' errors as text.
pub type DrawResult = std::result::Result<(), String>;

// Confusion heat map geometry, in pixels (documented on `confusion`). Not `pub`: cbindgen
// would put public constants into the C header.
const CONFUSION_LEFT: u32 = 170;
const CONFUSION_TOP: u32 = 50;
const CONFUSION_GRID: u32 = 640;
const CONFUSION_SIZE: (u32, u32) = (CONFUSION_LEFT + CONFUSION_GRID + 30, CONFUSION_TOP + CONFUSION_GRID + 150);
const CONFUSION_MAX_LABELLED: usize = 20;

const NAME_CHARS: usize = 16;
// Darkest heat-map colour (a row that is all in one cell).
const HEAT: (f64, f64, f64) = (8.0, 48.0, 107.0);
const CENTRE: Pos = Pos { h_pos: HPos::Center, v_pos: VPos::Center };

/// Whether a font could be loaded: without one, figures are drawn without text.
pub fn fonts_available() -> bool {
    catch_unwind(|| ("sans-serif", 12).into_font().layout_box("Ag").is_ok()).unwrap_or(false)
}

/// Confusion matrix heat map: rows = reference, columns = predicted, cells coloured by the
/// row-normalised value (white = 0, dark blue = the whole row), counts written in the cells up
/// to 20 classes, names truncated to 16 characters. Errors: a matrix that is empty, not square
/// or does not match the names.
///
/// Geometry, in pixels: the figure is 840 x 840; the `n x n` grid is the 640-pixel square at
/// (170, 50), and cell `(row i, column j)` spans `170 + j*640/n .. 170 + (j+1)*640/n`
/// horizontally (the same vertically from 50 with `i`), edges rounded to pixels.
pub fn confusion(path: &Path, matrix: &[Vec<u64>], class_names: &[String], title: &str) -> Result<()> {
    let n = matrix.len();
    if n == 0 {
        return Err(Error::invalid(format!("plot {}: empty confusion matrix", path.display())));
    }
    if let Some(i) = matrix.iter().position(|row| row.len() != n) {
        let found = matrix[i].len();
        return Err(Error::invalid(format!(
            "plot {}: confusion row {i} has {found} values, expected {n}",
            path.display()
        )));
    }
    if class_names.len() != n {
        let found = class_names.len();
        return Err(Error::invalid(format!("plot {}: {found} class names for {n} classes", path.display())));
    }
    let text = fonts_available();
    write_png(path, CONFUSION_SIZE, |root| {
        let edge = |k: usize| (k as f64 * CONFUSION_GRID as f64 / n as f64).round() as i32;
        let (left, top) = (CONFUSION_LEFT as i32, CONFUSION_TOP as i32);
        let cell = CONFUSION_GRID as f64 / n as f64;
        let count_font = cell.clamp(8.0, 40.0) * 0.4;
        let name_font = cell.clamp(10.0, 32.0) * 0.5;
        for (i, row) in matrix.iter().enumerate() {
            let total: u64 = row.iter().sum();
            for (j, &count) in row.iter().enumerate() {
                let v = if total == 0 { 0.0 } else { count as f64 / total as f64 };
                let (x0, x1, y0, y1) = (left + edge(j), left + edge(j + 1), top + edge(i), top + edge(i + 1));
                root.draw(&Rectangle::new([(x0, y0), (x1, y1)], heat(v).filled())).map_err(err)?;
                if text && n <= CONFUSION_MAX_LABELLED {
                    let ink = if v > 0.5 { WHITE } else { BLACK };
                    let style = ("sans-serif", count_font).into_font().color(&ink).pos(CENTRE);
                    root.draw(&Text::new(count.to_string(), ((x0 + x1) / 2, (y0 + y1) / 2), style)).map_err(err)?;
                }
            }
        }
        let grid = CONFUSION_GRID as i32;
        root.draw(&Rectangle::new([(left, top), (left + grid, top + grid)], BLACK.stroke_width(1))).map_err(err)?;
        if !text {
            return Ok(());
        }
        let title_style = ("sans-serif", 22).into_font().color(&BLACK).pos(CENTRE);
        root.draw(&Text::new(title.to_string(), (left + grid / 2, top / 2), title_style)).map_err(err)?;
        let right = ("sans-serif", name_font).into_font().color(&BLACK).pos(Pos::new(HPos::Right, VPos::Center));
        // Rotated 90 degrees so that long names under narrow columns read top to bottom.
        let down = ("sans-serif", name_font)
            .into_font()
            .transform(FontTransform::Rotate90)
            .color(&BLACK)
            .pos(Pos::new(HPos::Left, VPos::Center));
        for (k, name) in class_names.iter().enumerate() {
            let mid = (edge(k) + edge(k + 1)) / 2;
            root.draw(&Text::new(truncate(name), (left - 6, top + mid), right.clone())).map_err(err)?;
            root.draw(&Text::new(truncate(name), (left + mid, top + grid + 6), down.clone())).map_err(err)?;
        }
        let axis = ("sans-serif", 16).into_font();
        let h = CONFUSION_SIZE.1 as i32;
        root.draw(&Text::new("predicted", (left + grid / 2, h - 14), axis.color(&BLACK).pos(CENTRE))).map_err(err)?;
        let vertical = axis.transform(FontTransform::Rotate270).color(&BLACK).pos(CENTRE);
        root.draw(&Text::new("reference", (14, top + grid / 2), vertical)).map_err(err)?;
        Ok(())
    })
}

fn heat(v: f64) -> RGBColor {
    let mix = |dark: f64| (255.0 + (dark - 255.0) * v.clamp(0.0, 1.0)).round() as u8;
    RGBColor(mix(HEAT.0), mix(HEAT.1), mix(HEAT.2))
}

fn truncate(name: &str) -> String {
    if name.chars().count() <= NAME_CHARS {
        name.to_string()
    } else {
        name.chars().take(NAME_CHARS - 1).chain(['…']).collect()
    }
}

/// Plotters' errors as text, for `map_err` inside drawing closures.
pub fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Draws onto a white `size` bitmap and writes it to `path` as a PNG, complete or not at all:
/// the image goes to a hidden temporary `.png` beside `path` (plotters picks the encoder from
/// the extension) that is renamed into place; a drawing error or a panic inside plotters
/// becomes an error, and no file is left.
pub fn write_png(path: &Path, size: (u32, u32), draw: impl FnOnce(Area) -> DrawResult) -> Result<()> {
    // Removed on drop unless persisted: every early return below leaves nothing behind. The
    // backend creates the file as any plain file is (mode 0666 less the umask).
    let temp = TempFile::beside(path, "png")?;
    let drawn = catch_unwind(AssertUnwindSafe(|| {
        let root = BitMapBackend::new(temp.path(), size).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        draw(root.clone())?;
        root.present().map_err(|e| format!("cannot write the image: {e}"))
        // The backend is dropped here, before the rename.
    }));
    match drawn {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(Error::io(path, format!("cannot draw the plot: {e}"))),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            return Err(Error::io(path, format!("plotting failed (panic in plotters): {what}")));
        }
    }
    temp.persist(path).map_err(|e| Error::io(path, format!("moving it into place: {e}")))?;
    Ok(())
}
