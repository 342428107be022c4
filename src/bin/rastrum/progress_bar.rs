//! The progress bar of long commands: drawn on stderr only when it is a terminal and the command
//! is not quiet, cleared when the work ends.

use std::io::IsTerminal;

/// Runs `work` with a progress callback that moves the bar (never cancels).
pub fn with_bar<T>(quiet: bool, work: impl FnOnce(&mut dyn FnMut(f64, &str) -> bool) -> T) -> T {
    let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
        let pb = indicatif::ProgressBar::new(1000);
        pb.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {percent:>3}% {msg} [{elapsed_precise} < {eta}]")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        pb
    });
    let mut progress = |frac: f64, msg: &str| {
        if let Some(pb) = &bar {
            pb.set_position((frac * 1000.0) as u64);
            pb.set_message(msg.to_string());
        }
        true
    };
    let result = work(&mut progress);
    if let Some(pb) = bar {
        pb.finish_and_clear();
    }
    result
}
