//! bertbench: a workbench for transfer learning in NLP. Pretrain → fine-tune → evaluate
//! BERT-style encoders with candle, and keep every run as a record on disk.
//!
//! The engine (`data`, `model`, `train`, `eval`, `runs`) knows nothing of terminals; the
//! headless console (`headless`) and the TUI are sinks for its `TrainEvent`s.

pub mod bench;
pub mod cli;
pub mod config;
pub mod data;
pub mod datasets;
pub mod error;
pub mod eval;
pub mod experiment;
pub mod explain;
pub mod headless;
pub mod model;
pub mod plot;
pub mod report;
pub mod runs;
pub mod sys;
pub mod train;
pub mod tui;

pub use error::{Error, Result};
