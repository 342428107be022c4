//! ONNX Runtime: finding and loading its shared library, opening a model as a reusable session on
//! the requested execution provider, and running batches of tiles. Shapes are taken from the
//! session's inputs (ONNX Runtime already leaves out initialisers listed as graph inputs) and from
//! real outputs, never from declared output dims, which real models get wrong.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use ort::logging::LogLevel;
use ort::session::Session;
use ort::value::{TensorElementType, TensorRef, ValueType};

use crate::card::Card;
use crate::error::{Error, Result};

/// Where the model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    Cpu,
    Cuda,
    TensorRt,
}

impl FromStr for Device {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "cpu" => Ok(Device::Cpu),
            "cuda" | "gpu" => Ok(Device::Cuda),
            "tensorrt" | "trt" => Ok(Device::TensorRt),
            other => Err(Error::invalid(format!("unknown device '{other}': expected cpu, cuda or tensorrt"))),
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
            Device::TensorRt => "tensorrt",
        })
    }
}

/// How to open a model.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    pub device: Device,
    /// Fall back to the CPU when the requested provider cannot be bound (else: an error).
    pub allow_fallback: bool,
    /// Intra-op threads; `None` lets the library pick the number of cores.
    pub threads: Option<usize>,
    /// Explicit path of libonnxruntime.so (wins over RASTRUM_ORT_LIB and the search).
    pub ort_lib: Option<PathBuf>,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions { device: Device::Cpu, allow_fallback: false, threads: None, ort_lib: None }
    }
}

/// Name, element type and declared shape (-1 for symbolic dims) of a model input or output.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TensorInfo {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<i64>,
}

/// One output tensor of a run, copied out of ONNX Runtime's memory.
#[derive(Debug, Clone)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// A loaded model: one ONNX Runtime session, reusable across runs. `run` takes a lock: calls
/// from several threads on one `Model` are safe and serialised.
pub struct Model {
    pub path: PathBuf,
    pub metadata: BTreeMap<String, String>,
    pub input: TensorInfo,
    pub outputs: Vec<TensorInfo>,
    /// The provider actually bound ("cpu", "cuda", "tensorrt"), with a note on fallback.
    pub provider: String,
    session: Mutex<Session>,
}

static ENVIRONMENT: Mutex<Option<(PathBuf, ort::environment::Environment)>> = Mutex::new(None);

const LIB_NAMES: &[&str] = &["libonnxruntime.so", "libonnxruntime.so.1", "libonnxruntime.so.1.31.1"];

/// The file holding the code of this library (librastrum.so, the GDAL driver gdal_rastrum.so,
/// or the executable it is linked into): the file mapped at the address of one of our own
/// functions, from the process's memory map (Linux's `/proc/self/maps`).
fn own_file() -> Option<PathBuf> {
    let addr = own_file as fn() -> Option<PathBuf> as usize;
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    let name = maps.lines().find_map(|line| mapped_file(line, addr))?;
    std::fs::canonicalize(name).ok()
}

fn own_dir() -> Option<PathBuf> {
    own_file()?.parent().map(Path::to_path_buf)
}

/// The library folders of the Rastrum QGIS plugins installed in the user's QGIS profiles
/// (`~/.local/share/QGIS/QGIS3/profiles/*/python/plugins/rastrum/lib`): the plugin zip carries
/// ONNX Runtime there, so a GDAL driver copied alone into a GDAL plugin folder finds it.
fn qgis_plugin_dirs() -> Vec<PathBuf> {
    let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) else { return Vec::new() };
    let profiles = PathBuf::from(home).join(".local/share/QGIS/QGIS3/profiles");
    let Ok(entries) = std::fs::read_dir(&profiles) else { return Vec::new() };
    let mut dirs: Vec<PathBuf> =
        entries.flatten().map(|e| e.path().join("python/plugins/rastrum/lib")).filter(|d| d.is_dir()).collect();
    dirs.sort();
    dirs
}

/// The file of a `/proc/self/maps` line (`start-end perms offset dev inode path`) when its range
/// holds `addr` and it maps a file.
fn mapped_file(line: &str, addr: usize) -> Option<&str> {
    let (range, rest) = line.split_once(' ')?;
    let (start, end) = range.split_once('-')?;
    let (start, end) = (usize::from_str_radix(start, 16).ok()?, usize::from_str_radix(end, 16).ok()?);
    if !(start..end).contains(&addr) {
        return None;
    }
    // perms, offset, dev and inode, then the path (which may hold spaces) after the padding.
    let mut rest = rest;
    for _ in 0..4 {
        rest = rest.trim_start().split_once(' ').map_or("", |(_, r)| r);
    }
    let path = rest.trim_start();
    path.starts_with('/').then_some(path)
}

/// Finds libonnxruntime: the explicit path, then `RASTRUM_ORT_LIB`, then next to this library
/// (or executable), then in the Rastrum QGIS plugins of the user's QGIS profiles. The error
/// names the file holding this code and lists every place looked at.
pub fn locate_ort_library(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return if p.is_file() {
            Ok(p.to_path_buf())
        } else {
            Err(Error::Runtime(format!("the ONNX Runtime library {} does not exist", p.display())))
        };
    }
    if let Some(p) = std::env::var_os("RASTRUM_ORT_LIB").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(Error::Runtime(format!("RASTRUM_ORT_LIB={} does not exist", p.display())))
        };
    }
    let mut tried = Vec::new();
    let mut dirs: Vec<PathBuf> = own_dir().into_iter().collect();
    let exe_dir = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf));
    for dir in exe_dir.into_iter().chain(qgis_plugin_dirs()) {
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    for dir in dirs {
        for name in LIB_NAMES {
            let p = dir.join(name);
            if p.is_file() {
                return Ok(p);
            }
            tried.push(p.display().to_string());
        }
    }
    let me = own_file().map_or_else(|| "librastrum".to_string(), |f| f.display().to_string());
    Err(Error::Runtime(format!(
        "libonnxruntime.so not found: set RASTRUM_ORT_LIB to its path (pip's onnxruntime==1.31.1 \
         ships it as onnxruntime/capi/libonnxruntime.so.1.31.1) or place it next to {me}; looked at: {}",
        tried.join(", ")
    )))
}

/// What ONNX Runtime logs: nothing by default, since its errors come back as our errors (its own
/// logger printed them a second time, in ANSI colours); `ORT_LOG=warning` (or `info`,
/// `verbose`, `error`) shows its messages at that level.
fn log_level() -> LogLevel {
    match std::env::var("ORT_LOG").as_deref() {
        Ok("error") => LogLevel::Error,
        Ok("warning") => LogLevel::Warning,
        Ok("info") => LogLevel::Info,
        Ok("verbose") => LogLevel::Verbose,
        _ => LogLevel::Fatal,
    }
}

/// ONNX Runtime's messages as plain lines on stderr (never a panic: a closed stderr is ignored).
/// The level is also checked here: ONNX Runtime logs verbosely while the environment is made,
/// before `log_level` applies.
fn plain_log(level: LogLevel, _category: &str, _id: &str, _location: &str, message: &str) {
    use std::io::Write;
    if level >= log_level() {
        let _ = writeln!(std::io::stderr(), "rastrum: ONNX Runtime {level:?}: {message}");
    }
}

/// Loads ONNX Runtime once per process and hands out its environment.
fn environment(explicit: Option<&Path>) -> Result<ort::environment::Environment> {
    let mut guard = ENVIRONMENT.lock().map_err(|_| Error::Internal("ONNX Runtime lock poisoned".into()))?;
    if let Some((_, env)) = guard.as_ref() {
        return Ok(env.clone());
    }
    let lib = locate_ort_library(explicit)?;
    let built = std::panic::catch_unwind(|| -> std::result::Result<_, String> {
        let builder = ort::init_from(&lib).map_err(|e| e.to_string())?;
        let env = builder.with_name("rastrum").with_logger(Arc::new(plain_log)).build().map_err(|e| e.to_string())?;
        env.set_log_level(log_level());
        Ok(env)
    })
    .map_err(|_| Error::Runtime(format!("loading {} panicked", lib.display())))?
    .map_err(|e| Error::Runtime(format!("cannot load {}: {e}", lib.display())))?;
    *guard = Some((lib, built.clone()));
    Ok(built)
}

/// Loads ONNX Runtime now (from `explicit`, else RASTRUM_ORT_LIB, else next to the library). It
/// is an error to ask for a different library once one is loaded.
pub fn init_runtime(explicit: Option<&Path>) -> Result<PathBuf> {
    environment(explicit)?;
    let guard = ENVIRONMENT.lock().map_err(|_| Error::Internal("ONNX Runtime lock poisoned".into()))?;
    let loaded = guard.as_ref().map(|(p, _)| p.clone()).unwrap_or_default();
    if let Some(asked) = explicit {
        let same = std::fs::canonicalize(asked).ok() == std::fs::canonicalize(&loaded).ok();
        if !same {
            return Err(Error::Runtime(format!(
                "ONNX Runtime is already loaded from {}; cannot switch to {} in the same process",
                loaded.display(),
                asked.display()
            )));
        }
    }
    Ok(loaded)
}

fn describe(dtype: &ValueType) -> (String, Vec<i64>) {
    match dtype {
        ValueType::Tensor { ty, shape, .. } => (format!("{ty}"), shape.iter().copied().collect()),
        other => (format!("{other}"), Vec::new()),
    }
}

impl Model {
    /// Opens `path` on the requested provider. Errors name the file and what is wrong with it.
    pub fn load(path: impl AsRef<Path>, opts: &SessionOptions) -> Result<Model> {
        let path = path.as_ref().to_path_buf();
        if !path.is_file() {
            return Err(Error::io(&path, "model file does not exist"));
        }
        let env = environment(opts.ort_lib.as_deref())?;
        let threads = opts.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        if threads == 0 || threads > 1024 {
            return Err(Error::invalid(format!("threads must be in 1..=1024, found {threads}")));
        }

        let (session, provider) = match opts.device {
            Device::Cpu => (commit(&env, &path, threads, None)?, "cpu".to_string()),
            device => match commit(&env, &path, threads, Some(device)) {
                Ok(s) => (s, device.to_string()),
                Err(e @ Error::Provider(_)) if opts.allow_fallback => {
                    (commit(&env, &path, threads, None)?, format!("cpu (fallback: {e})"))
                }
                Err(e) => return Err(e),
            },
        };

        let inputs = session.inputs();
        if inputs.len() != 1 {
            let names: Vec<&str> = inputs.iter().map(|i| i.name()).collect();
            return Err(Error::model(
                &path,
                format!(
                    "has {} inputs ({}); Rastrum runs models with exactly one image input",
                    names.len(),
                    names.join(", ")
                ),
            ));
        }
        let (dtype, shape) = describe(inputs[0].dtype());
        if inputs[0].dtype().tensor_type() != Some(TensorElementType::Float32) || shape.len() != 4 {
            return Err(Error::model(
                &path,
                format!(
                    "input '{}' is {dtype} {shape:?}; expected a float32 tensor [batch, channels, height, width]",
                    inputs[0].name()
                ),
            ));
        }
        let input = TensorInfo { name: inputs[0].name().to_string(), dtype, shape };
        let outputs = session
            .outputs()
            .iter()
            .map(|o| {
                let (dtype, shape) = describe(o.dtype());
                TensorInfo { name: o.name().to_string(), dtype, shape }
            })
            .collect();

        let mut metadata = BTreeMap::new();
        let meta = session.metadata()?;
        for key in meta.custom_keys()? {
            if let Some(v) = meta.custom(&key) {
                metadata.insert(key, v);
            }
        }
        drop(meta);
        Ok(Model { path, metadata, input, outputs, provider, session: Mutex::new(session) })
    }

    /// The card as stored in the file (before any override).
    pub fn card(&self) -> Result<Card> {
        Card::from_metadata(&self.metadata).map_err(|e| Error::model(&self.path, e))
    }

    /// Runs one batch `[n, c, h, w]` and returns output `index`.
    pub fn run(&self, data: &[f32], shape: [usize; 4], index: usize) -> Result<Tensor> {
        let mut outputs = self.run_outputs(data, shape, &[index])?;
        outputs.pop().ok_or_else(|| Error::Internal("a model run gave no output".into()))
    }

    /// One model call giving several of its outputs (by index, in that order): the heads of a
    /// run share the call.
    pub fn run_outputs(&self, data: &[f32], shape: [usize; 4], indices: &[usize]) -> Result<Vec<Tensor>> {
        let names = indices
            .iter()
            .map(|&i| {
                self.outputs
                    .get(i)
                    .map(|o| o.name.as_str())
                    .ok_or_else(|| Error::invalid(format!("model has {} outputs, no output {i}", self.outputs.len())))
            })
            .collect::<Result<Vec<&str>>>()?;
        let mut session = self.session.lock().map_err(|_| Error::Internal("session lock poisoned".into()))?;
        let tensor = TensorRef::from_array_view((shape.map(|d| d as i64), data))?;
        let outputs = session.run(ort::inputs![self.input.name.as_str() => tensor])?;
        names.into_iter().map(|out_name| self.copy_output(&outputs, out_name)).collect()
    }

    /// An output of a session run, copied out as f32.
    fn copy_output(&self, outputs: &ort::session::SessionOutputs, out_name: &str) -> Result<Tensor> {
        let value =
            outputs.get(out_name).ok_or_else(|| Error::Runtime(format!("output '{out_name}' missing from the run")))?;
        // Float outputs as they are; integer ones (class ids of detectors with NMS inside) as floats.
        let copy = |len: usize, values: &mut dyn Iterator<Item = f32>| -> Result<Vec<f32>> {
            let mut v = self.reserved(out_name, len)?;
            v.extend(values);
            Ok(v)
        };
        let (shape, data): (Vec<i64>, Vec<f32>) = if let Ok((shape, data)) = value.try_extract_tensor::<f32>() {
            (shape.to_vec(), copy(data.len(), &mut data.iter().copied())?)
        } else if let Ok((shape, data)) = value.try_extract_tensor::<i64>() {
            (shape.to_vec(), copy(data.len(), &mut data.iter().map(|v| *v as f32))?)
        } else if let Ok((shape, data)) = value.try_extract_tensor::<i32>() {
            (shape.to_vec(), copy(data.len(), &mut data.iter().map(|v| *v as f32))?)
        } else {
            return Err(Error::model(
                &self.path,
                format!("output '{out_name}' is not a float32, int64 or int32 tensor"),
            ));
        };
        Ok(Tensor { shape: shape.iter().map(|d| (*d).max(0) as usize).collect(), data })
    }

    /// An empty vector with room for an output of `len` values: ONNX Runtime could allocate the
    /// output, but a second copy may still not fit.
    fn reserved(&self, out_name: &str, len: usize) -> Result<Vec<f32>> {
        let mut copy: Vec<f32> = Vec::new();
        copy.try_reserve_exact(len).map_err(|_| {
            Error::model(&self.path, format!("output '{out_name}' of {len} values does not fit in memory"))
        })?;
        Ok(copy)
    }

    /// Index of an output by name.
    pub fn output_index(&self, name: &str) -> Result<usize> {
        self.outputs.iter().position(|o| o.name == name).ok_or_else(|| {
            let names: Vec<&str> = self.outputs.iter().map(|o| o.name.as_str()).collect();
            Error::model(&self.path, format!("has no output '{name}' (outputs: {})", names.join(", ")))
        })
    }
}

fn commit(env: &ort::environment::Environment, path: &Path, threads: usize, device: Option<Device>) -> Result<Session> {
    let rt = |e: ort::Error<ort::session::builder::SessionBuilder>| Error::Runtime(e.to_string());
    // No spinning between ONNX Runtime's parallel sections: the reader and writer threads need
    // those cycles (15 % faster with a cheap model on 2 cores, 2 % with the cloud model).
    let mut builder =
        Session::builder(env)?.with_intra_threads(threads).map_err(rt)?.with_intra_op_spinning(false).map_err(rt)?;
    if let Some(device) = device {
        let ep = match device {
            Device::Cuda => ort::ep::CUDA::default().build().error_on_failure(),
            Device::TensorRt => ort::ep::TensorRT::default().build().error_on_failure(),
            Device::Cpu => unreachable!("cpu needs no provider"),
        };
        builder = builder.with_execution_providers([ep]).map_err(|e| {
            Error::Provider(format!(
                "{device} was requested but cannot be bound ({e}); it needs the onnxruntime-gpu library \
                 (RASTRUM_ORT_LIB) and a visible GPU, or allow the CPU fallback"
            ))
        })?;
    }
    builder.commit_from_file(path).map_err(|e| {
        let msg = e.to_string();
        if msg.contains("Protobuf parsing failed") || msg.contains("INVALID_PROTOBUF") || msg.contains("protobuf") {
            Error::model(path, format!("is not a valid ONNX file ({msg})"))
        } else {
            Error::model(path, msg)
        }
    })
}

/// Tiles per model call when neither the model nor the user fixes it. On the CPU a batch of 4
/// keeps ONNX Runtime's threads busy without growing its activations; a GPU gains from larger
/// batches (fewer launches and copies): as many tiles as fit 256 MiB of input, at most 32.
pub fn default_batch(provider: &str, channels: usize, tile: usize) -> usize {
    if provider.starts_with("cuda") || provider.starts_with("tensorrt") {
        let per_tile = (channels * tile * tile * 4).max(1);
        let fit = (256usize << 20) / per_tile;
        let mut b = 1;
        while b * 2 <= fit.min(32) {
            b *= 2;
        }
        b
    } else {
        4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_batch_is_larger_on_a_gpu_and_bounded_by_its_input_size() {
        assert_eq!(default_batch("cpu", 6, 256), 4);
        assert_eq!(default_batch("cpu (fallback: no GPU)", 6, 256), 4);
        // 6 x 256 x 256 floats = 1.5 MiB per tile: the cap of 32 applies.
        assert_eq!(default_batch("cuda", 6, 256), 32);
        // 14 x 1024 x 1024 floats = 56 MiB per tile: 4 fit in 256 MiB.
        assert_eq!(default_batch("tensorrt", 14, 1024), 4);
        // One tile larger than the budget still runs, alone.
        assert_eq!(default_batch("cuda", 64, 4096), 1);
    }

    #[test]
    fn the_mapping_holding_an_address_names_its_file() {
        let line = "7f10a000-7f10b000 r-xp 00001000 08:01 393232                     /opt/my lib/librastrum.so";
        assert_eq!(mapped_file(line, 0x7f10a800), Some("/opt/my lib/librastrum.so"));
        assert_eq!(mapped_file(line, 0x7f10b000), None);
        assert_eq!(mapped_file("7f10a000-7f10b000 rw-p 00000000 00:00 0 ", 0x7f10a800), None);
        assert_eq!(mapped_file("7ffd0000-7ffd1000 rw-p 00000000 00:00 0                  [stack]", 0x7ffd0001), None);
        // This test binary holds the function: its own folder.
        let exe = std::fs::canonicalize(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(own_dir().as_deref(), exe.parent());
    }
}
