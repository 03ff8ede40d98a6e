//! Experiments: many runs that answer one question. A sweep is a base config and a grid of
//! settings (any config keys), each trained at several seeds; every run is a normal run record
//! that names its place in the sweep, so the sweep's state is read back from the runs folder —
//! by a second `bertbench sweep`, by the workbench, or after runs launched elsewhere (a
//! scheduler) wrote their records there.
//!
//! `spec` reads the sweep and lays out its runs, `drive` goes through them, `results` gathers their figures into a table
//! (mean ± sd over seeds), the contrast of two settings and the summary curves.

pub mod drive;
pub mod results;
pub mod spec;

pub use results::{Results, Row};
pub use spec::{Next, PlannedRun, Sweep, SweepSpec};
