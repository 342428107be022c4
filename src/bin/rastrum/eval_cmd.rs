//! `rastrum eval PRED REF`: scores a prediction raster against a reference raster (classes,
//! values or images) and prints a table, or the report as JSON with `--json`.

use std::path::PathBuf;

use clap::Args;
use rastrum::eval::{evaluate, EvalKind, EvalOptions, EvalReport};

#[derive(Args)]
pub struct EvalArgs {
    /// The prediction raster (any GDAL raster); everything is compared on its grid.
    pub prediction: PathBuf,
    /// The reference raster (same CRS; resampled onto the prediction grid when it differs).
    pub reference: PathBuf,
    /// classes, values or image (default: classes when both bands are integer, else values).
    #[arg(long)]
    pub kind: Option<EvalKind>,
    /// 1-based band of the prediction.
    #[arg(long, default_value_t = 1)]
    pub pred_band: usize,
    /// 1-based band of the reference.
    #[arg(long, default_value_t = 1)]
    pub ref_band: usize,
    /// Class value to leave out wherever either raster has it (repeatable; classes).
    #[arg(long, value_name = "VALUE", allow_negative_numbers = true)]
    pub ignore: Vec<i64>,
    /// Also score the sums over N x N pixel blocks of the prediction grid (values).
    #[arg(long, value_name = "N")]
    pub block: Option<usize>,
    /// PSNR / SSIM data range (image; default: the reference's max - min).
    #[arg(long)]
    pub data_range: Option<f64>,
    /// GDAL resampling of the reference onto the prediction grid (default: mode for classes,
    /// average otherwise; e.g. sum for counts).
    #[arg(long)]
    pub resampling: Option<String>,
    /// Write the confusion matrix as a PNG (classes).
    #[arg(long, value_name = "PATH")]
    pub confusion_png: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: EvalArgs) -> rastrum::Result<()> {
    // Bound GDAL's block cache unless the user chose one: memory must not grow with the raster.
    if std::env::var_os("GDAL_CACHEMAX").is_none() {
        let _ = gdal::config::set_config_option("GDAL_CACHEMAX", "64");
    }
    let opts = EvalOptions {
        kind: a.kind,
        pred_band: a.pred_band,
        ref_band: a.ref_band,
        ignore: a.ignore,
        block: a.block,
        data_range: a.data_range,
        resampling: a.resampling,
        confusion_png: a.confusion_png,
    };
    let report = evaluate(&a.prediction, &a.reference, &opts)?;
    if a.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| rastrum::Error::Internal(e.to_string()))?;
        out!("{text}");
    } else {
        print!("{}", table(&report));
    }
    Ok(())
}

/// A number for the table: 4 decimals, or 4 significant digits when that would hide it;
/// infinite and NaN spelled out.
fn num(v: f64) -> String {
    if v.is_nan() {
        "n/a".into()
    } else if v.is_infinite() {
        if v > 0.0 { "inf" } else { "-inf" }.into()
    } else if v != 0.0 && (v.abs() < 1e-3 || v.abs() >= 1e9) {
        format!("{v:.3e}")
    } else {
        format!("{v:.4}")
    }
}

fn table(r: &EvalReport) -> String {
    let mut s = String::new();
    let mut line = |t: String| {
        s.push_str(&t);
        s.push('\n');
    };
    line(format!("prediction   {} (band {})", r.prediction.display(), r.pred_band));
    line(format!("reference    {} (band {})", r.reference.display(), r.ref_band));
    line(format!("kind         {} ({})", r.kind, r.kind_from));
    line(format!("grid         {}", r.grid));
    if let Some(how) = &r.resampled {
        line(format!("resampled    {how}"));
    }
    let p = &r.pixels;
    line(format!(
        "pixels       {} compared, {} ignored of {} ({} prediction nodata, {} reference nodata or outside, {} ignored \
         class)",
        p.compared, p.ignored, p.total, p.nodata_prediction, p.nodata_reference, p.ignored_class
    ));
    if let Some(c) = &r.classes {
        let labels = c.labels();
        let lw = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0).max(9);
        let cw = c.confusion.iter().flatten().map(|n| n.to_string().len()).max().unwrap_or(1).max(6) + 1;
        line(String::new());
        line("confusion matrix (rows: reference, columns: prediction)".into());
        let head: String = c.values.iter().map(|v| format!("{v:>cw$}")).collect();
        line(format!("  {:lw$}{head}", ""));
        for (label, row) in labels.iter().zip(&c.confusion) {
            let cells: String = row.iter().map(|n| format!("{n:>cw$}")).collect();
            line(format!("  {label:lw$}{cells}"));
        }
        line(String::new());
        line(format!(
            "  {:lw$} {:>9} {:>9} {:>9} {:>10} {:>10}",
            "class", "precision", "recall", "F1", "support", "predicted"
        ));
        for (label, k) in labels.iter().zip(&c.per_class) {
            line(format!(
                "  {label:lw$} {:>9} {:>9} {:>9} {:>10} {:>10}",
                num(k.precision),
                num(k.recall),
                num(k.f1),
                k.support,
                k.predicted
            ));
        }
        line(String::new());
        line(format!("overall accuracy  {}", num(c.overall_accuracy)));
        line(format!("macro F1          {}", num(c.macro_f1)));
        line(format!("weighted F1       {}", num(c.weighted_f1)));
        line(format!("Cohen's kappa     {}", num(c.kappa)));
        if let Some(png) = &c.confusion_png {
            line(format!("wrote             {}", png.display()));
        }
    }
    if let Some(v) = &r.values {
        let e = &v.errors;
        line(String::new());
        line(format!("MAE               {}", num(e.mae)));
        line(format!("RMSE              {}", num(e.rmse)));
        line(format!("bias (pred - ref) {}", num(e.bias)));
        line(format!(
            "total             predicted {}, reference {}, difference {}, relative {}",
            num(v.total.predicted),
            num(v.total.reference),
            num(v.total.difference),
            v.total.relative_error.map_or("n/a".into(), num)
        ));
        if let Some(b) = &v.blocks {
            line(format!(
                "{}x{} blocks      {} blocks: MAE {}, RMSE {}, bias {}",
                b.size,
                b.size,
                b.errors.count,
                num(b.errors.mae),
                num(b.errors.rmse),
                num(b.errors.bias)
            ));
        }
    }
    if let Some(i) = &r.image {
        line(String::new());
        line(format!("PSNR              {} dB (data range {}, {})", num(i.psnr), num(i.data_range), i.data_range_from));
        line(format!("SSIM              {} ({} windows of 11x11)", num(i.ssim), i.ssim_windows));
        line(format!("MSE / MAE         {} / {}", num(i.mse), num(i.mae)));
    }
    s
}
