//! The one error type of the engine. Every variant says what went wrong in words a user can act
//! on (file, band, key, expected vs found); the C API (issue 3) maps variants to status codes.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An argument or option is out of range or inconsistent.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A file could not be found, read or written.
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    /// The raster itself is unusable (bands, types, size).
    #[error("raster {path}: {message}")]
    Raster { path: PathBuf, message: String },
    /// The model file, its graph or its card is unusable.
    #[error("model {path}: {message}")]
    Model { path: PathBuf, message: String },
    /// ONNX Runtime could not be loaded or failed while running.
    #[error("ONNX Runtime: {0}")]
    Runtime(String),
    /// The requested execution provider is not available.
    #[error("execution provider: {0}")]
    Provider(String),
    /// The caller cancelled the run.
    #[error("cancelled")]
    Cancelled,
    /// A worker thread failed unexpectedly (a bug: please report it).
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidArgument(msg.into())
    }
    pub fn io(path: impl Into<PathBuf>, msg: impl std::fmt::Display) -> Self {
        Error::Io { path: path.into(), message: msg.to_string() }
    }
    pub fn raster(path: impl Into<PathBuf>, msg: impl std::fmt::Display) -> Self {
        Error::Raster { path: path.into(), message: msg.to_string() }
    }
    pub fn model(path: impl Into<PathBuf>, msg: impl std::fmt::Display) -> Self {
        Error::Model { path: path.into(), message: msg.to_string() }
    }
}

impl From<ort::Error> for Error {
    fn from(e: ort::Error) -> Self {
        Error::Runtime(e.to_string())
    }
}
