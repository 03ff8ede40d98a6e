//! BERT models: where they come from, the encoder, task heads, and checkpoints.

pub mod attention;
pub mod bert_config;
pub mod checkpoint;
pub mod dropout;
pub mod embedded;
pub mod encoder;
pub mod fastmath;
pub mod gemm;
pub mod heads;
pub mod ops;
pub mod par;
pub mod params;
pub mod pretraining;
pub mod scratch;
pub mod simd;
pub mod source;

pub use bert_config::BertConfig;
pub use encoder::Encoder;
pub use heads::TaskModel;
