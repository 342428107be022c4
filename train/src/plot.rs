//! PNG figures of a training run: loss/metric curves per epoch. The confusion matrix and the
//! atomic PNG writer live in the engine (`rastrum::plot`, shared with `rastrum eval`) and are
//! re-exported here.
//!
//! Where no font can be found the curves are still drawn, without any text (see
//! [`fonts_available`]).

use std::path::Path;

use plotters::prelude::*;
pub use rastrum::plot::{confusion, fonts_available};
use rastrum::plot::{err, write_png, Area, DrawResult};
use rastrum::{Error, Result};

/// Width of a curves figure, in pixels.
pub const CURVES_WIDTH: u32 = 900;
/// Height of one panel (one row) of a curves figure; the figure is `panels * CURVES_PANEL_HEIGHT`.
pub const CURVES_PANEL_HEIGHT: u32 = 360;

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

/// One row of a curves figure, with its own y axis: e.g. train and validation loss in one panel,
/// a validation metric in another. Series are indexed by epoch (index 0 = epoch 1).
pub struct Panel<'a> {
    pub title: &'a str,
    pub y_label: &'a str,
    pub series: &'a [(&'a str, &'a [f64])],
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
