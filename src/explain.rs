//! What a fine-tuned model does with one input, and what training did to it: the attention
//! maps and their rollout, token attributions by integrated gradients, the sentence vectors
//! before and after fine-tuning projected to 2-D, and the tokens a masked-LM step hides. The
//! workbench's explanation views draw these; `plot` exports them.

pub mod attention;
pub mod attributions;
pub mod masking;
pub mod pca;
pub mod predict;
pub mod representations;

pub use attention::AttentionMaps;
pub use attributions::{Attribution, Baseline, Target};
pub use predict::{Explainer, Explanation, Outputs};
