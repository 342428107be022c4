//! PNG figures of a training run: loss/metric curves per epoch and the confusion matrix.
//!
//! Files are written atomically (a temporary `.png` in the same folder, then a rename), so a
//! reader never sees a partial figure and a failure leaves nothing behind.
//!
//! Text goes through plotters' `ttf` feature (font-kit + fontconfig). Where no font can be found
//! (a bare container without fonts) the figures are still drawn, without any text: the curves
//! and colours are the useful part, and failing a training run over a missing font would be
//! worse. [`fonts_available`] tells which case applies. Plotters can panic inside its drawing
//! code; such panics are caught and returned as errors.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use rastrum::{Error, Result};

use crate::atomic;

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;
type DrawResult = std::result::Result<(), String>;

/// Width of a curves figure, in pixels.
pub const CURVES_WIDTH: u32 = 900;
/// Height of one panel (one row) of a curves figure; the figure is `panels * CURVES_PANEL_HEIGHT`.
pub const CURVES_PANEL_HEIGHT: u32 = 360;

/// Confusion heat map geometry, in pixels: the `n x n` grid is the square
/// `[CONFUSION_LEFT, CONFUSION_LEFT + CONFUSION_GRID) x [CONFUSION_TOP, CONFUSION_TOP + CONFUSION_GRID)`
/// and cell `(row i, column j)` spans `CONFUSION_LEFT + j*GRID/n .. CONFUSION_LEFT + (j+1)*GRID/n`
/// horizontally (same vertically from `CONFUSION_TOP` with `i`), edges rounded to pixels.
pub const CONFUSION_LEFT: u32 = 170;
pub const CONFUSION_TOP: u32 = 50;
pub const CONFUSION_GRID: u32 = 640;
/// Size of a confusion figure (width, height): room right of and below the grid for the names.
pub const CONFUSION_SIZE: (u32, u32) = (CONFUSION_LEFT + CONFUSION_GRID + 30, CONFUSION_TOP + CONFUSION_GRID + 150);
/// Counts are written in the cells up to this many classes (beyond, they would not fit).
pub const CONFUSION_MAX_LABELLED: usize = 20;

const NAME_CHARS: usize = 16;
// tab10: distinguishable lines for the usual handful of series.
const COLOURS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];
// Darkest heat-map colour (a row that is all in one cell).
const HEAT: (f64, f64, f64) = (8.0, 48.0, 107.0);

/// One row of a curves figure, with its own y axis: e.g. train and validation loss in one panel,
/// a validation metric in another. Series are indexed by epoch (index 0 = epoch 1).
pub struct Panel<'a> {
    pub title: &'a str,
    pub y_label: &'a str,
    pub series: &'a [(&'a str, &'a [f64])],
}

/// Whether a font could be loaded: without one, figures are drawn without text.
pub fn fonts_available() -> bool {
    catch_unwind(|| ("sans-serif", 12).into_font().layout_box("Ag").is_ok()).unwrap_or(false)
}

/// Curves per epoch (x axis from 1), one panel per row, all sharing `x_label`. NaN and infinite
/// values are skipped (the line breaks there); a single epoch shows as a marker; empty series
/// give empty axes. Errors: no panel at all, or the file cannot be written.
pub fn curves(path: &Path, title: &str, x_label: &str, panels: &[Panel]) -> Result<()> {
    if panels.is_empty() {
        return Err(Error::invalid(format!("plot {}: no panel to draw", path.display())));
    }
    let size = (CURVES_WIDTH, CURVES_PANEL_HEIGHT * panels.len() as u32);
    let text = fonts_available();
    write_png(path, size, |root| {
        let root = if text && !title.is_empty() { root.titled(title, ("sans-serif", 22)).map_err(err)? } else { root };
        for (area, panel) in root.split_evenly((panels.len(), 1)).iter().zip(panels) {
            draw_panel(area, panel, x_label, text)?;
        }
        Ok(())
    })
}

/// Confusion matrix heat map: rows = reference, columns = predicted, cells coloured by the
/// row-normalised value (white = 0, dark blue = the whole row), counts written in the cells up
/// to [`CONFUSION_MAX_LABELLED`] classes, names truncated to 16 characters. Geometry: see
/// [`CONFUSION_LEFT`]. Errors: a matrix that is empty, not square or does not match the names.
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

const CENTRE: Pos = Pos { h_pos: HPos::Center, v_pos: VPos::Center };

fn draw_panel(area: &Area, panel: &Panel, x_label: &str, text: bool) -> DrawResult {
    let epochs = panel.series.iter().map(|(_, v)| v.len()).max().unwrap_or(0).max(1);
    let (lo, hi) = y_range(panel.series);
    let mut builder = ChartBuilder::on(area);
    builder.margin(12);
    if text {
        builder.caption(panel.title, ("sans-serif", 18)).x_label_area_size(40).y_label_area_size(70);
    }
    let mut chart = builder.build_cartesian_2d(0.5..epochs as f64 + 0.5, lo..hi).map_err(err)?;
    let mut mesh = chart.configure_mesh();
    // Epochs are whole numbers: ticks between them stay unlabelled.
    let whole = |x: &f64| if (x - x.round()).abs() < 1e-9 { format!("{}", x.round()) } else { String::new() };
    mesh.x_label_formatter(&whole);
    if text {
        mesh.x_desc(x_label).y_desc(panel.y_label).x_labels(epochs.min(12) + 1);
    } else {
        // Any tick would need a font: a frame keeps the panels apart.
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(err)?;
    if !text {
        let frame = Rectangle::new([(0.5, lo), (epochs as f64 + 0.5, hi)], BLACK.stroke_width(1));
        chart.draw_series(std::iter::once(frame)).map_err(err)?;
    }
    for (k, (name, values)) in panel.series.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let points: Vec<(f64, f64)> =
            values.iter().enumerate().filter(|(_, v)| v.is_finite()).map(|(i, &v)| (i as f64 + 1.0, v)).collect();
        // Lines only join consecutive epochs, so a skipped value breaks the line.
        for run in points.chunk_by(|a, b| b.0 - a.0 == 1.0) {
            chart.draw_series(LineSeries::new(run.iter().copied(), colour.stroke_width(2))).map_err(err)?;
        }
        let markers = chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, colour.filled()))).map_err(err)?;
        if text {
            markers.label(*name).legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2)));
        }
    }
    if text && !panel.series.is_empty() {
        chart
            .configure_series_labels()
            .position(legend_corner(panel.series, lo, hi))
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(err)?;
    }
    Ok(())
}

/// Where the curves end is where the legend would hide them: losses end low (legend upper
/// right), accuracies end high (legend lower right).
fn legend_corner(series: &[(&str, &[f64])], lo: f64, hi: f64) -> SeriesLabelPosition {
    let ends: Vec<f64> = series.iter().filter_map(|(_, v)| v.iter().rev().find(|v| v.is_finite()).copied()).collect();
    let mean = ends.iter().sum::<f64>() / ends.len().max(1) as f64;
    if !ends.is_empty() && mean > (lo + hi) / 2.0 {
        SeriesLabelPosition::LowerRight
    } else {
        SeriesLabelPosition::UpperRight
    }
}

/// Finite range of all values, padded by 5 %; a constant or empty panel still gets a range.
fn y_range(series: &[(&str, &[f64])]) -> (f64, f64) {
    let finite = series.iter().flat_map(|(_, v)| v.iter().copied()).filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return (0.0, 1.0);
    }
    let pad = if hi > lo { (hi - lo) * 0.05 } else { lo.abs().max(1.0) * 0.5 };
    (lo - pad, hi + pad)
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

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Draws onto a white bitmap written complete or not at all (`atomic`): a drawing error or a
/// panic inside plotters becomes an error, and no file is left.
fn write_png(path: &Path, size: (u32, u32), draw: impl FnOnce(Area) -> DrawResult) -> Result<()> {
    atomic::write_with(path, |tmp| {
        let drawn = catch_unwind(AssertUnwindSafe(|| {
            let root = BitMapBackend::new(tmp, size).into_drawing_area();
            root.fill(&WHITE).map_err(err)?;
            draw(root.clone())?;
            root.present().map_err(|e| format!("cannot write the image: {e}"))
            // The backend is dropped here, before the rename.
        }));
        match drawn {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Error::io(path, format!("cannot draw the plot: {e}"))),
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                Err(Error::io(path, format!("plotting failed (panic in plotters): {what}")))
            }
        }
    })
}
