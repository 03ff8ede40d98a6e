//! Evaluation: running a model over a split, and the metrics of each head (classes, label sets,
//! entities, values).

pub mod calibration;
pub mod entities;
pub mod evaluate;
pub mod metrics;
pub mod multilabel;
pub mod regression;

pub use evaluate::evaluate;
pub use metrics::{ClassMetrics, Scores, score};
