//! Evaluation: metrics from gold and predicted labels, and running a model over a split.

pub mod evaluate;
pub mod metrics;

pub use evaluate::{Encoded, evaluate};
pub use metrics::{ClassMetrics, Scores, score};
