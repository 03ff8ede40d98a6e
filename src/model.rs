//! Encoder models (BERT and its families: RoBERTa, DistilBERT, ELECTRA): where they come
//! from, the encoder, task heads, and checkpoints.

pub mod attention;
pub mod census;
pub mod checkpoint;
pub mod dropout;
pub mod embedded;
pub mod encoder;
pub mod encoder_config;
pub mod family;
pub mod fastmath;
pub mod gemm;
pub mod heads;
pub mod ops;
pub mod par;
pub mod params;
pub mod precision;
pub mod pretraining;
pub mod scratch;
pub mod simd;
pub mod source;

pub use encoder::Encoder;
pub use encoder_config::EncoderConfig;
pub use heads::TaskModel;
