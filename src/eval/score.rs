//! The streaming scorers of `eval`: one pass over row strips of the prediction and the
//! (resampled) reference, pixel pairs into a class-pair count, regression sums with per-block
//! sums, or image sums; SSIM takes a second pass over strips with a 5-row halo.

use std::collections::{BTreeSet, HashMap};

use super::{BlockReport, ClassReport, ClassRow, ImageReport, PixelCounts, Strips, Total, ValueReport};
use crate::error::{Error, Result};
use crate::metrics::{psnr_of_mse, ssim_sum, Confusion, RegressionSums, SSIM_RADIUS};
use crate::raster::gdal::category_names;

/// Pixels per strip (per raster): 8 MiB of f64.
const STRIP_PIXELS: usize = 1 << 20;
/// Pixels per SSIM strip: its filtering holds about ten images of the strip's size.
const SSIM_STRIP_PIXELS: usize = 1 << 18;
/// More distinct class values than this is not a class raster.
const MAX_CLASSES: usize = 1000;
/// Class values counted in a dense table (the common 0..255); others go to a map.
const DENSE: usize = 256;

#[derive(Clone, Copy)]
pub(super) struct Dims {
    pub width: usize,
    pub height: usize,
}

/// Row strips `(y0, rows)` covering `y_start .. y_end`.
fn strips(y_start: usize, y_end: usize, rows: usize) -> impl Iterator<Item = (usize, usize)> {
    (y_start..y_end).step_by(rows.max(1)).map(move |y0| (y0, rows.max(1).min(y_end - y0)))
}

fn strip_rows(g: Dims) -> usize {
    (STRIP_PIXELS / g.width.max(1)).clamp(1, g.height.max(1))
}

/// Calls `pair(x, y, p, r)` for every pixel valid in both rasters, counting the others.
fn each_pair(
    pred: &Strips,
    refs: &Strips,
    g: Dims,
    counts: &mut PixelCounts,
    mut pair: impl FnMut(usize, usize, f64, f64) -> Result<()>,
) -> Result<()> {
    for (y0, rows) in strips(0, g.height, strip_rows(g)) {
        let (p, r) = (pred.read(y0, rows)?, refs.read(y0, rows)?);
        for (i, (&pv, &rv)) in p.iter().zip(&r).enumerate() {
            if !pred.valid(pv) {
                counts.nodata_prediction += 1;
            } else if !refs.valid(rv) {
                counts.nodata_reference += 1;
            } else {
                pair(i % g.width, y0 + i / g.width, pv, rv)?;
            }
        }
    }
    Ok(())
}

fn nothing_compared(c: &PixelCounts) -> Error {
    Error::invalid(format!(
        "no pixel to compare: of {} pixels, {} are nodata in the prediction, {} are nodata in or outside the \
         reference, {} hold an ignored class",
        c.total, c.nodata_prediction, c.nodata_reference, c.ignored_class
    ))
}

/// A class value: an integer (any data type), else an error naming the pixel.
fn class_value(s: &Strips, v: f64, x: usize, y: usize) -> Result<i64> {
    if v.fract() != 0.0 || v.abs() > 9.007_199_254_740_992e15 {
        return Err(Error::raster(
            s.path,
            format!(
                "band {}: value {v} at pixel ({x}, {y}) is not an integer class value (use kind values for \
                 continuous data)",
                s.index
            ),
        ));
    }
    Ok(v as i64)
}

/// Confusion counts of class pairs; per-class names are filled in by the caller.
pub(super) fn classes(
    pred: &Strips,
    refs: &Strips,
    g: Dims,
    ignore: &[i64],
    counts: &mut PixelCounts,
) -> Result<ClassReport> {
    let mut dense = vec![0u64; DENSE * DENSE];
    let mut sparse: HashMap<(i64, i64), u64> = HashMap::new();
    let mut others: BTreeSet<i64> = BTreeSet::new();
    let mut compared = 0u64;
    let mut ignored = 0u64;
    each_pair(pred, refs, g, counts, |x, y, pv, rv| {
        let (p, r) = (class_value(pred, pv, x, y)?, class_value(refs, rv, x, y)?);
        if !ignore.is_empty() && (ignore.contains(&p) || ignore.contains(&r)) {
            ignored += 1;
            return Ok(());
        }
        compared += 1;
        let small = |v: i64| (0..DENSE as i64).contains(&v);
        if small(p) && small(r) {
            dense[r as usize * DENSE + p as usize] += 1;
        } else {
            *sparse.entry((r, p)).or_default() += 1;
            for v in [p, r] {
                if !small(v) && others.insert(v) && others.len() > MAX_CLASSES {
                    return Err(Error::invalid(format!(
                        "more than {MAX_CLASSES} distinct class values (e.g. {v} at pixel ({x}, {y})): these do not \
                         look like class rasters; use kind values"
                    )));
                }
            }
        }
        Ok(())
    })?;
    counts.ignored_class = ignored;
    counts.compared = compared;
    if compared == 0 {
        return Err(nothing_compared(counts));
    }
    let mut values: BTreeSet<i64> = others;
    for r in 0..DENSE {
        for p in 0..DENSE {
            if dense[r * DENSE + p] > 0 {
                values.insert(r as i64);
                values.insert(p as i64);
            }
        }
    }
    let values: Vec<i64> = values.into_iter().collect();
    if values.len() > MAX_CLASSES {
        return Err(Error::invalid(format!(
            "{} distinct class values (more than {MAX_CLASSES}): these do not look like class rasters; use kind values",
            values.len()
        )));
    }
    let index: HashMap<i64, usize> = values.iter().enumerate().map(|(i, v)| (*v, i)).collect();
    let mut confusion = Confusion::new(values.len());
    for r in 0..DENSE {
        for p in 0..DENSE {
            let n = dense[r * DENSE + p];
            if n > 0 {
                confusion.counts[index[&(r as i64)]][index[&(p as i64)]] += n;
            }
        }
    }
    for ((r, p), n) in sparse {
        confusion.counts[index[&r]][index[&p]] += n;
    }
    let s = confusion.scores();
    let k = values.len();
    let predicted: Vec<u64> = (0..k).map(|j| confusion.counts.iter().map(|row| row[j]).sum()).collect();
    let per_class = (0..k)
        .map(|i| ClassRow {
            value: values[i],
            name: values[i].to_string(),
            precision: s.precision[i],
            recall: s.recall[i],
            f1: s.f1[i],
            support: s.support[i],
            predicted: predicted[i],
        })
        .collect();
    Ok(ClassReport {
        names: values.iter().map(|v| v.to_string()).collect(),
        values,
        confusion: confusion.counts,
        per_class,
        overall_accuracy: s.overall_accuracy,
        macro_f1: s.macro_f1,
        weighted_f1: s.weighted_f1,
        kappa: s.kappa,
        confusion_png: None,
    })
}

/// A name per class value: the prediction's category names, else the reference's, else the
/// value itself.
pub(super) fn class_names(values: &[i64], pred: &Strips, reference: &Strips) -> Vec<String> {
    let (p, r) = (category_names(&pred.band), category_names(&reference.band));
    let table = if p.iter().any(|n| !n.is_empty()) { p } else { r };
    values
        .iter()
        .map(|&v| {
            usize::try_from(v)
                .ok()
                .and_then(|i| table.get(i))
                .filter(|n| !n.trim().is_empty())
                .cloned()
                .unwrap_or_else(|| v.to_string())
        })
        .collect()
}

/// Sums of `n` x `n` blocks of the current block row, flushed into regression sums when the
/// rows move on (rows arrive top to bottom).
struct Blocks {
    n: usize,
    row: Option<usize>,
    acc: Vec<(f64, f64, bool)>,
    sums: RegressionSums,
}

impl Blocks {
    fn add(&mut self, x: usize, y: usize, p: f64, r: f64) {
        let row = y / self.n;
        if self.row != Some(row) {
            self.flush();
            self.row = Some(row);
        }
        let a = &mut self.acc[x / self.n];
        a.0 += p;
        a.1 += r;
        a.2 = true;
    }

    fn flush(&mut self) {
        for a in &mut self.acc {
            if a.2 {
                self.sums.add(a.0, a.1);
            }
            *a = (0.0, 0.0, false);
        }
    }
}

/// Per-pixel errors, totals and (with `block`) errors of block sums.
pub(super) fn values(
    pred: &Strips,
    refs: &Strips,
    g: Dims,
    block: Option<usize>,
    counts: &mut PixelCounts,
) -> Result<ValueReport> {
    let mut sums = RegressionSums::default();
    let mut blocks = block.map(|n| Blocks {
        n,
        row: None,
        acc: vec![(0.0, 0.0, false); g.width.div_ceil(n)],
        sums: RegressionSums::default(),
    });
    each_pair(pred, refs, g, counts, |x, y, p, r| {
        sums.add(p, r);
        if let Some(b) = blocks.as_mut() {
            b.add(x, y, p, r);
        }
        Ok(())
    })?;
    counts.compared = sums.count();
    if counts.compared == 0 {
        return Err(nothing_compared(counts));
    }
    let errors = sums.scores();
    let (tp, tr) = (errors.total_predicted, errors.total_reference);
    let total = Total {
        predicted: tp,
        reference: tr,
        difference: tp - tr,
        relative_error: if tr == 0.0 { None } else { Some((tp - tr) / tr) },
    };
    let blocks = blocks.map(|mut b| {
        b.flush();
        BlockReport { size: b.n, errors: b.sums.scores() }
    });
    Ok(ValueReport { errors, total, blocks })
}

/// PSNR over the compared pixels and SSIM over the windows holding compared pixels only.
pub(super) fn image(
    pred: &Strips,
    refs: &Strips,
    g: Dims,
    data_range: Option<f64>,
    counts: &mut PixelCounts,
) -> Result<ImageReport> {
    let mut sums = RegressionSums::default();
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    each_pair(pred, refs, g, counts, |_, _, p, r| {
        sums.add(p, r);
        lo = lo.min(r);
        hi = hi.max(r);
        Ok(())
    })?;
    counts.compared = sums.count();
    if counts.compared == 0 {
        return Err(nothing_compared(counts));
    }
    let (range, from) = match data_range {
        Some(r) => (r, "given".to_string()),
        None if hi > lo => (hi - lo, format!("reference {lo}..{hi}")),
        None => {
            return Err(Error::invalid(format!(
                "the reference's compared pixels are all {lo}: PSNR and SSIM need a data range; give one \
                 (--data-range)"
            )))
        }
    };
    let errors = sums.scores();
    // Second pass: centre rows c0..c1 need rows c0 - R .. c1 + R.
    const R: usize = SSIM_RADIUS;
    let (mut total, mut windows) = (0.0, 0u64);
    if g.height > 2 * R && g.width > 2 * R {
        let rows = (SSIM_STRIP_PIXELS / g.width).max(64);
        for (c0, n) in strips(R, g.height - R, rows) {
            let (y0, rows) = (c0 - R, n + 2 * R);
            let (p, r) = (pred.read(y0, rows)?, refs.read(y0, rows)?);
            let valid: Vec<bool> = p.iter().zip(&r).map(|(&a, &b)| pred.valid(a) && refs.valid(b)).collect();
            let (s, k) = ssim_sum(&p, &r, Some(&valid), g.width, rows, range);
            total += s;
            windows += k;
        }
    }
    Ok(ImageReport {
        psnr: psnr_of_mse(errors.mse, range),
        ssim: if windows == 0 { f64::NAN } else { total / windows as f64 },
        ssim_windows: windows,
        data_range: range,
        data_range_from: from,
        mse: errors.mse,
        mae: errors.mae,
    })
}
