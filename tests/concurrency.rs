//! Concurrency: 8 threads running at once, some sharing one loaded model and some with their
//! own, write byte-identical files to serial runs of the same options, 20 rounds in a row; a
//! cancel from another thread stops a run and leaves nothing.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::*;
use rastrum::card::StitchMode;
use rastrum::Error;
use rastrum::{run, RunOptions};

/// Four option sets: different tilings and stitch modes give different files.
fn variant(i: usize) -> RunOptions {
    let (tile, overlap, stitch) = [
        (64, 8, StitchMode::Blend),
        (100, 0, StitchMode::Crop),
        (128, 16, StitchMode::Blend),
        (256, 32, StitchMode::Crop),
    ][i % 4];
    RunOptions {
        bands: Some(vec![1]),
        scale: Some(vec![1.0 / 255.0]),
        tile_size: Some(tile),
        overlap: Some(overlap),
        stitch: Some(stitch),
        batch: Some(1 + i % 3),
        ..Default::default()
    }
}

fn model_path(dir: &Path) -> PathBuf {
    let p = dir.join("conv.onnx");
    conv_model(&p);
    p
}

#[test]
fn eight_threads_write_what_serial_runs_write() {
    let dir = tmp();
    let model_file = model_path(dir.path());
    let input = data("rasterio/rasterio_RGB.byte.tif");
    let shared = load(&model_file);
    let reference: Vec<Vec<u8>> = (0..4)
        .map(|v| {
            let out = dir.path().join(format!("serial_{v}.tif"));
            run(&shared, &input, &out, &variant(v), &mut |_, _| true).unwrap();
            std::fs::read(&out).unwrap()
        })
        .collect();
    assert_ne!(reference[0], reference[1], "the variants must differ for the test to mean anything");

    for round in 0..20 {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|t| {
                    let (dir, input, model_file, shared) = (dir.path(), &input, &model_file, &shared);
                    s.spawn(move || {
                        // Even threads share one handle; odd ones load their own.
                        let own;
                        let model = if t % 2 == 0 {
                            shared
                        } else {
                            own = load(model_file);
                            &own
                        };
                        let out = dir.join(format!("round{round}_thread{t}.tif"));
                        run(model, input, &out, &variant(t), &mut |_, _| true)
                            .unwrap_or_else(|e| panic!("round {round} thread {t}: {e}"));
                        let bytes = std::fs::read(&out).unwrap();
                        std::fs::remove_file(&out).unwrap();
                        (t, bytes)
                    })
                })
                .collect();
            for h in handles {
                let (t, bytes) = h.join().expect("a thread panicked");
                assert!(bytes == reference[t % 4], "round {round} thread {t}: output differs from the serial run");
            }
        });
    }
}

#[test]
fn cancel_from_another_thread_stops_the_run_and_leaves_nothing() {
    let dir = tmp();
    let model = load(&model_path(dir.path()));
    let input = landsat_rgb_vrt(dir.path());
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let cancel = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicBool::new(false));
    let opts = RunOptions { cancel: Some(cancel.clone()), tile_size: Some(32), batch: Some(1), ..variant(0) };
    let result = std::thread::scope(|s| {
        let worker = s.spawn(|| {
            let started = started.clone();
            run(&model, &input, &out_dir.join("out.tif"), &opts, &mut |_, _| {
                started.store(true, Ordering::SeqCst);
                true
            })
        });
        while !started.load(Ordering::SeqCst) && !worker.is_finished() {
            std::thread::yield_now();
        }
        cancel.store(true, Ordering::SeqCst);
        worker.join().expect("the run panicked")
    });
    assert!(matches!(result, Err(Error::Cancelled)), "{:?}", result.map(|s| s.tiles_run));
    let left: Vec<_> = std::fs::read_dir(&out_dir).unwrap().collect();
    assert!(left.is_empty(), "left {left:?}");
}
