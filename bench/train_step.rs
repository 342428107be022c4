//! Train-step time of rastrum-train (tch) against the same architecture in PyTorch eager Python,
//! measured in one run, as a ratio.
//!
//! - ResNet-18 (13 bands, 10 classes, 64 x 64 chips, width 64: the EuroSAT workflow) and U-Net
//!   (14 channels, 6 classes, depth 4, width 32, 128 x 128 tiles), each as the graph of
//!   `rastrum_train::arch`, written as JSON (`describe::to_json`) that bench/train_step.py
//!   rebuilds node for node with torch.nn.functional ops.
//! - The rebuild is checked first: same trainable-parameter and buffer counts, and with the tch
//!   net's weights (its safetensors checkpoint) the same training-mode forward output on the same
//!   input; the bench refuses to time anything otherwise.
//! - One step, on both sides: forward in training mode (batch statistics), cross-entropy (mean),
//!   Adam (lr 1e-3; tch's `nn::Adam` as in `fit`, torch.optim.Adam), zero-grad / backward /
//!   step, the loss read back. Same batch (random input and labels), same intra-op threads
//!   (`tch::set_num_threads`, `torch.set_num_threads`), warm-up steps first.
//! - The Python process stays up (--serve) and the two alternate, repetition by repetition,
//!   swapping which goes first; the figures are medians over repetitions (the machine is noisy).
//!
//! Prints only. Run with `make bench-train`, or with the trainer's environment
//! (LIBTORCH_USE_PYTORCH=1, libtorch on LD_LIBRARY_PATH):
//! `cargo bench -p rastrum-train --bench train_step [-- --threads N]`.
//! Environment: RASTRUM_TRAIN_PYTHON (default .venv-train/bin/python), RASTRUM_BENCH_THREADS
//! (default 2), RASTRUM_BENCH_REPS (default 9), RASTRUM_BENCH_STEPS (timed steps per
//! repetition, default 2), RASTRUM_BENCH_WARMUP (default 2).

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;

use rastrum_train::arch::{self, ResNetDepth};
use rastrum_train::describe;
use rastrum_train::graph::Net;
use rastrum_train::torch::TchNet;
use serde_json::Value;
use tch::nn::{Adam, Optimizer, OptimizerConfig};
use tch::{Device, Kind, Reduction, Tensor};

const SEED: i64 = 0;
const LR: f64 = 1e-3;
/// Batch of the forward check.
const CHECK_BATCH: i64 = 2;

type Res<T> = Result<T, String>;

fn root() -> PathBuf {
    // CARGO_MANIFEST_DIR is train/.
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// `--threads N` (cargo adds `--bench`, ignored), else RASTRUM_BENCH_THREADS, else 2.
fn threads() -> usize {
    let args: Vec<String> = std::env::args().collect();
    for (i, a) in args.iter().enumerate() {
        if let Some(v) = a.strip_prefix("--threads=") {
            return v.parse().expect("--threads N");
        }
        if a == "--threads" {
            return args.get(i + 1).and_then(|v| v.parse().ok()).expect("--threads N");
        }
    }
    env_or("RASTRUM_BENCH_THREADS", 2)
}

fn python() -> PathBuf {
    std::env::var_os("RASTRUM_TRAIN_PYTHON").map(PathBuf::from).unwrap_or_else(|| root().join(".venv-train/bin/python"))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// One benchmarked architecture.
struct Case {
    label: &'static str,
    net: Net,
    batch: i64,
    size: i64,
    classes: i64,
    /// Per-pixel labels [N, H, W] (segmentation), else per chip [N].
    per_pixel: bool,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            label: "ResNet-18 (13 bands, 10 classes, 64x64, width 64)",
            net: arch::resnet(13, 10, ResNetDepth::R18, 64, 64),
            batch: 16,
            size: 64,
            classes: 10,
            per_pixel: false,
        },
        Case {
            label: "U-Net (14 channels, 6 classes, depth 4, width 32, 128x128)",
            net: arch::unet(14, 6, 4, 32),
            batch: 4,
            size: 128,
            classes: 6,
            per_pixel: true,
        },
    ]
}

/// The tch side of one case: the training loop of `fit` on a fixed batch.
struct TchTrainer {
    net: TchNet,
    opt: Optimizer,
    x: Tensor,
    y: Tensor,
}

impl TchTrainer {
    fn new(net: TchNet, case: &Case) -> Res<TchTrainer> {
        let opt = Adam::default().build(&net.vs, LR).map_err(|e| format!("optimizer: {e}"))?;
        let (b, s) = (case.batch, case.size);
        let x = Tensor::randn([b, net.net.in_channels, s, s], (Kind::Float, Device::Cpu));
        let shape: Vec<i64> = if case.per_pixel { vec![b, s, s] } else { vec![b] };
        let y = Tensor::randint(case.classes, &shape, (Kind::Int64, Device::Cpu));
        Ok(TchTrainer { net, opt, x, y })
    }

    fn step(&mut self) -> f64 {
        let out = self.net.forward(&self.x, true);
        let loss = out.cross_entropy_loss::<Tensor>(&self.y, None, Reduction::Mean, -100, 0.0);
        self.opt.backward_step(&loss);
        loss.double_value(&[])
    }

    /// Seconds of each of `steps` steps.
    fn run(&mut self, steps: usize) -> Vec<f64> {
        (0..steps)
            .map(|_| {
                let t = Instant::now();
                self.step();
                t.elapsed().as_secs_f64()
            })
            .collect()
    }
}

/// bench/train_step.py --serve on one case.
struct PyTrainer {
    child: Child,
    stdin: BufWriter<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl PyTrainer {
    fn read(&mut self) -> Res<Value> {
        let mut line = String::new();
        let n = self.stdout.read_line(&mut line).map_err(|e| format!("reading train_step.py: {e}"))?;
        if n == 0 {
            return Err("train_step.py exited early (see its error above)".into());
        }
        serde_json::from_str(&line).map_err(|e| format!("train_step.py printed {line:?}: {e}"))
    }

    fn run(&mut self) -> Res<Vec<f64>> {
        writeln!(self.stdin, "run").and_then(|_| self.stdin.flush()).map_err(|e| format!("train_step.py: {e}"))?;
        let v = self.read()?;
        v["seconds_per_step"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .ok_or_else(|| format!("train_step.py printed {v}"))
    }

    fn close(self) {
        let PyTrainer { mut child, stdin, stdout } = self;
        drop(stdin);
        drop(stdout);
        let _ = child.wait();
    }
}

struct Settings {
    threads: usize,
    reps: usize,
    steps: usize,
    warmup: usize,
}

fn numel(t: &Tensor) -> i64 {
    t.size().iter().product()
}

/// Seconds per step of one case: medians over repetitions (of each repetition's mean), the median
/// of the per-repetition ratios, the fastest steps.
struct Timing {
    tch: f64,
    torch: f64,
    paired: f64,
    tch_min: f64,
    torch_min: f64,
}

/// Times one case, tch and PyTorch alternating.
fn bench_case(case: &Case, dir: &Path, s: &Settings) -> Res<Timing> {
    let name = &case.net.name;
    println!("\n{}: batch {}", case.label, case.batch);
    let graph = dir.join(format!("{name}.json"));
    let weights = dir.join(format!("{name}.safetensors"));
    let check = dir.join(format!("{name}.check.safetensors"));
    std::fs::write(&graph, describe::to_json(&case.net).to_string()).map_err(|e| e.to_string())?;

    tch::manual_seed(SEED);
    let mut net = TchNet::new(case.net.clone(), Device::Cpu);
    let trainable: i64 = net.vs.trainable_variables().iter().map(numel).sum();
    let all: i64 = net.vs.variables().values().map(numel).sum();
    net.vs.save(&weights).map_err(|e| format!("saving the weights: {e}"))?;
    // The forward check: training mode (batch statistics), as timed.
    let xc = Tensor::randn([CHECK_BATCH, case.net.in_channels, case.size, case.size], (Kind::Float, Device::Cpu));
    let yc = tch::no_grad(|| net.forward(&xc, true));
    Tensor::write_safetensors(&[("x", &xc), ("y", &yc)], &check).map_err(|e| format!("check file: {e}"))?;
    // Back to the saved running statistics (the check's forward updated them).
    net.vs.load(&weights).map_err(|e| format!("reloading the weights: {e}"))?;

    let mut cmd = Command::new(python());
    cmd.arg(root().join("bench/train_step.py"))
        .args(["--graph", graph.to_str().unwrap()])
        .args(["--weights", weights.to_str().unwrap()])
        .args(["--check", check.to_str().unwrap()])
        .args(["--batch", &case.batch.to_string(), "--size", &case.size.to_string()])
        .args(["--classes", &case.classes.to_string()])
        .args(["--steps", &s.steps.to_string(), "--warmup", &s.warmup.to_string()])
        .args(["--threads", &s.threads.to_string(), "--seed", &SEED.to_string(), "--lr", &LR.to_string()])
        .arg("--serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if case.per_pixel {
        cmd.arg("--per-pixel");
    }
    let mut child = cmd.spawn().map_err(|e| format!("starting {}: {e}", python().display()))?;
    let stdin = BufWriter::new(child.stdin.take().unwrap());
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut py = PyTrainer { child, stdin, stdout };
    let result = alternate(case, net, &mut py, trainable, all - trainable, s);
    py.close();
    result
}

fn alternate(case: &Case, net: TchNet, py: &mut PyTrainer, trainable: i64, buffers: i64, s: &Settings) -> Res<Timing> {
    // The Python side's setup, forward check and warm-up.
    let head = py.read()?;
    let py_trainable = head["trainable_params"].as_i64().unwrap_or(-1);
    let py_buffers = head["buffer_values"].as_i64().unwrap_or(-1);
    let graph_trainable: i64 =
        case.net.params.iter().filter(|p| p.trainable).map(|p| p.shape.iter().product::<i64>()).sum();
    println!(
        "  trainable parameters: tch {trainable}, graph {graph_trainable}, pytorch {py_trainable}; buffer values: tch \
         {buffers}, pytorch {py_buffers}"
    );
    if py_trainable != trainable || graph_trainable != trainable || py_buffers != buffers {
        return Err(format!("{}: the PyTorch rebuild has other parameters than the tch net", case.net.name));
    }
    let diff = head["check"]["max_abs_diff"].as_f64().unwrap_or(f64::INFINITY);
    let scale = head["check"]["ref_max_abs"].as_f64().unwrap_or(0.0);
    println!(
        "  forward check (training mode, same weights and input, batch {CHECK_BATCH}): max |tch - pytorch| {diff:.2e} \
         (outputs up to {scale:.3})"
    );
    if diff.is_nan() || diff > 1e-4 * (1.0 + scale) {
        return Err(format!("{}: the PyTorch rebuild computes another function (diff {diff:e})", case.net.name));
    }
    println!("  {}: {}", head["framework"].as_str().unwrap_or("pytorch"), head["threads"]);

    let mut tch = TchTrainer::new(net, case)?;
    let t = Instant::now();
    tch.run(s.warmup);
    println!(
        "  warm-up ({} steps): tch {:.2} s, pytorch {:.2} s",
        s.warmup,
        t.elapsed().as_secs_f64(),
        head["warmup_seconds"].as_f64().unwrap_or(f64::NAN)
    );

    let (mut tch_means, mut py_means, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let (mut tch_min, mut py_min) = (f64::INFINITY, f64::INFINITY);
    for rep in 0..s.reps {
        // Swap which goes first each repetition.
        let (ta, tb) = if rep % 2 == 0 {
            let ta = tch.run(s.steps);
            (ta, py.run()?)
        } else {
            let tb = py.run()?;
            (tch.run(s.steps), tb)
        };
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let (a, b) = (mean(&ta), mean(&tb));
        tch_min = ta.iter().copied().fold(tch_min, f64::min);
        py_min = tb.iter().copied().fold(py_min, f64::min);
        println!("  rep {}: tch {a:.4} s/step, pytorch {b:.4} s/step, ratio {:.3}", rep + 1, a / b);
        tch_means.push(a);
        py_means.push(b);
        ratios.push(a / b);
    }
    let t = Timing {
        tch: median(&tch_means),
        torch: median(&py_means),
        paired: median(&ratios),
        tch_min,
        torch_min: py_min,
    };
    println!(
        "  median: tch {:.4} s/step, pytorch {:.4} s/step, ratio {:.3}; median of paired ratios {:.3}; fastest step: tch \
         {:.4} s, pytorch {:.4} s, ratio {:.3}",
        t.tch,
        t.torch,
        t.tch / t.torch,
        t.paired,
        t.tch_min,
        t.torch_min,
        t.tch_min / t.torch_min
    );
    Ok(t)
}

fn main() {
    let s = Settings {
        threads: threads(),
        reps: env_or("RASTRUM_BENCH_REPS", 9).max(1),
        steps: env_or("RASTRUM_BENCH_STEPS", 2).max(1),
        warmup: env_or("RASTRUM_BENCH_WARMUP", 2),
    };
    tch::set_num_threads(s.threads as i32);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    println!(
        "Train step, rastrum-train (tch) vs PyTorch eager ({}): {} threads each, machine {cores} cores, load average \
         {}",
        python().display(),
        s.threads,
        load_average()
    );
    println!(
        "{} repetitions of {} timed steps each, after {} warm-up steps; forward (train) + cross-entropy + Adam",
        s.reps, s.steps, s.warmup
    );
    let dir = std::env::temp_dir().join(format!("rastrum-train-step-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let started = Instant::now();
    let mut rows = Vec::new();
    let mut failed = None;
    for case in cases() {
        match bench_case(&case, &dir, &s) {
            Ok(t) => rows.push((case.net.name.clone(), case.batch, t)),
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    if let Some(e) = failed {
        eprintln!("train_step: {e}");
        std::process::exit(1);
    }
    println!(
        "\n| architecture | batch | rastrum-train (tch) | PyTorch eager | ratio of medians | median of paired ratios | \
         ratio of fastest steps |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, batch, t) in rows {
        println!(
            "| {name} | {batch} | {:.3} s/step | {:.3} s/step | {:.3} | {:.3} | {:.3} |",
            t.tch,
            t.torch,
            t.tch / t.torch,
            t.paired,
            t.tch_min / t.torch_min
        );
    }
    println!(
        "\n{:.0} s in all; load average at the end {} ({cores} cores)",
        started.elapsed().as_secs_f64(),
        load_average()
    );
}
