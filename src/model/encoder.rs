//! Our BERT encoder. It keeps the Hugging Face parameter names (so checkpoints load both ways),
//! and unlike candle-transformers' `BertModel` it is trainable end to end: its layer norm,
//! dense layers and attention are our fused CPU ops with their own backward passes (`ops`,
//! `attention`; candle's composed ops elsewhere), dropout is real (and seeded), and it can
//! return attention probabilities for the attention view.

use candle_core::Tensor;
use candle_nn::VarBuilder;

use super::attention;
use super::dropout::Dropout;
use super::encoder_config::{Activation, EncoderConfig};
use super::ops::{self, Epilogue};
use crate::error::{Error, Result};

/// A dense layer (Hugging Face layout: `weight` is `[out, in]`). Inputs of any rank are
/// flattened to one matrix product: one large GEMM instead of a batch of small ones.
#[derive(Debug, Clone)]
pub struct Linear {
    weight: Tensor,
    bias: Tensor,
}

impl Linear {
    pub fn load(vb: VarBuilder, inputs: usize, outputs: usize) -> Result<Self> {
        Ok(Self {
            weight: vb.get_with_hints((outputs, inputs), "weight", candle_nn::Init::Const(0.0))?,
            bias: vb.get_with_hints(outputs, "bias", candle_nn::Init::Const(0.0))?,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_then(x, Epilogue::Nothing)
    }

    /// The layer, then `activation` (fused into the same op where it can be).
    pub fn forward_activated(&self, x: &Tensor, activation: Activation) -> Result<Tensor> {
        match activation {
            Activation::Gelu => self.forward_then(x, Epilogue::Gelu),
            other => other.apply(&self.forward(x)?),
        }
    }

    /// The layer, then `epilogue` on its output (fused into the same op where it can be).
    pub fn forward_then(&self, x: &Tensor, epilogue: Epilogue) -> Result<Tensor> {
        Ok(ops::dense(x, &self.weight, &self.bias, epilogue)?)
    }
}

/// Layer normalisation over the last dimension, with gradients (see `ops::layer_norm`).
#[derive(Debug, Clone)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    pub fn load(vb: VarBuilder, size: usize, eps: f64) -> Result<Self> {
        Ok(Self {
            weight: vb.get_with_hints(size, "weight", candle_nn::Init::Const(1.0))?,
            bias: vb.get_with_hints(size, "bias", candle_nn::Init::Const(0.0))?,
            eps,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(ops::layer_norm(x, &self.weight, &self.bias, self.eps)?)
    }
}

struct Embeddings {
    /// `[vocabulary, E]`, `[positions, E]`, `[types, E]` (E is the hidden size, except in ELECTRA).
    word: Tensor,
    position: Tensor,
    /// None without segments (DistilBERT); one row (RoBERTa) is added to every token.
    token_type: Option<Tensor>,
    /// RoBERTa's positions start after the padding index.
    first_position: u32,
    norm: LayerNorm,
    dropout: f64,
    /// ELECTRA's projection from the embedding width to the hidden size.
    project: Option<Linear>,
}

impl Embeddings {
    /// `vb` is the encoder's root: the embeddings are below `embeddings.`, ELECTRA's projection
    /// beside them (`embeddings_project.`).
    fn load(vb: &VarBuilder, c: &EncoderConfig) -> Result<Self> {
        // Initialised as candle-nn's embeddings are (standard normal), for models from scratch.
        let init = candle_nn::Init::Randn { mean: 0.0, stdev: 1.0 };
        let width = c.embedding_width();
        let e = vb.pp("embeddings");
        let emb = |n: usize, name: &str| e.pp(name).get_with_hints((n, width), "weight", init);
        let token_type = match c.type_vocab_size {
            0 => None,
            n => Some(emb(n, "token_type_embeddings")?),
        };
        let project = if width == c.hidden_size {
            None
        } else {
            Some(Linear::load(vb.pp("embeddings_project"), width, c.hidden_size)?)
        };
        Ok(Self {
            word: emb(c.vocab_size, "word_embeddings")?,
            position: emb(c.max_position_embeddings, "position_embeddings")?,
            token_type,
            first_position: c.first_position() as u32,
            norm: LayerNorm::load(e.pp("LayerNorm"), width, c.layer_norm_eps)?,
            dropout: c.hidden_dropout_prob,
            project,
        })
    }

    fn forward(&self, input: Input, type_ids: &Tensor, drop: &mut Dropout) -> Result<Tensor> {
        let words = match input {
            Input::Ids(ids) => ops::lookup(&self.word, ids)?,
            Input::WordVectors(vectors) => vectors.clone(),
        };
        let len = words.dim(1)? as u32;
        let positions = Tensor::arange(self.first_position, self.first_position + len, words.device())?;
        let mut x = words.broadcast_add(&ops::lookup(&self.position, &positions)?)?;
        x = match &self.token_type {
            None => x,
            // One segment type: every token gets it, whatever the tokenizer numbered a pair's halves.
            Some(table) if table.dim(0)? == 1 => x.broadcast_add(&table.squeeze(0)?)?,
            Some(table) => x.add(&ops::lookup(table, type_ids)?)?,
        };
        let x = drop.apply(&self.norm.forward(&x)?, self.dropout)?;
        match &self.project {
            Some(project) => project.forward(&x),
            None => Ok(x),
        }
    }
}

/// What ends both halves of a layer (Hugging Face's `BertSelfOutput` and `BertOutput`): a dense
/// layer, dropout, the residual added back, layer normalisation.
struct Output {
    dense: Linear,
    norm: LayerNorm,
    dropout: f64,
}

impl Output {
    fn load(vb: VarBuilder, inputs: usize, c: &EncoderConfig, dropout: f64) -> Result<Self> {
        Ok(Self {
            dense: Linear::load(vb.pp("dense"), inputs, c.hidden_size)?,
            norm: LayerNorm::load(vb.pp("LayerNorm"), c.hidden_size, c.layer_norm_eps)?,
            dropout,
        })
    }

    fn forward(&self, x: &Tensor, residual: &Tensor, drop: &mut Dropout) -> Result<Tensor> {
        let out = self.dense.forward_then(x, Epilogue::dropout(drop.draw(self.dropout)))?;
        self.norm.forward(&(out + residual)?)
    }
}

struct SelfAttention {
    query: Linear,
    key: Linear,
    value: Linear,
    output: Output,
    heads: usize,
    head_dim: usize,
    attention_dropout: f64,
}

impl SelfAttention {
    fn load(vb: VarBuilder, c: &EncoderConfig) -> Result<Self> {
        let h = c.hidden_size;
        let s = vb.pp("self");
        Ok(Self {
            query: Linear::load(s.pp("query"), h, h)?,
            key: Linear::load(s.pp("key"), h, h)?,
            value: Linear::load(s.pp("value"), h, h)?,
            // DistilBERT drops nothing after the attention's output projection.
            output: Output::load(
                vb.pp("output"),
                h,
                c,
                if c.family().attention_output_dropout { c.hidden_dropout_prob } else { 0.0 },
            )?,
            heads: c.num_attention_heads,
            head_dim: c.head_dim(),
            attention_dropout: c.attention_probs_dropout_prob,
        })
    }

    /// Returns the block output and, with `keep_probs`, the attention probabilities
    /// `[B, heads, L, L]`.
    fn forward(
        &self,
        x: &Tensor,
        mask: &Tensor,
        drop: &mut Dropout,
        keep_probs: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let (q, k, v) = (self.query.forward(x)?, self.key.forward(x)?, self.value.forward(x)?);
        let fused = if keep_probs {
            None
        } else {
            attention::fused(&q, &k, &v, mask, self.heads, drop.draw(self.attention_dropout))?
        };
        let (context, probs) = if let Some(context) = fused {
            (context, None)
        } else {
            let (context, probs) = self.composed(&q, &k, &v, mask, drop)?;
            (context, Some(probs))
        };
        Ok((self.output.forward(&context, x, drop)?, probs))
    }

    /// What `attention::fused` computes, from candle's ops (other devices; and the attention
    /// probabilities when they are wanted). Returns the context and the probabilities.
    fn composed(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        mask: &Tensor,
        drop: &mut Dropout,
    ) -> Result<(Tensor, Tensor)> {
        let (b, l, h) = q.dims3()?;
        let split = |t: &Tensor| -> Result<Tensor> {
            Ok(t.reshape((b, l, self.heads, self.head_dim))?.transpose(1, 2)?.contiguous()?)
        };
        let (q, k, v) = (split(q)?, split(k)?, split(v)?);
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let scores = (ops::matmul(&q, &k.t()?)? * scale)?.broadcast_add(mask)?;
        let probs = ops::softmax(&scores)?;
        let context = ops::matmul(&drop.apply(&probs, self.attention_dropout)?, &v)?
            .transpose(1, 2)?
            .reshape((b, l, h))?;
        Ok((context, probs))
    }
}

struct Layer {
    attention: SelfAttention,
    intermediate: Linear,
    output: Output,
    activation: Activation,
}

impl Layer {
    fn load(vb: VarBuilder, c: &EncoderConfig) -> Result<Self> {
        Ok(Self {
            attention: SelfAttention::load(vb.pp("attention"), c)?,
            intermediate: Linear::load(vb.pp("intermediate.dense"), c.hidden_size, c.intermediate_size)?,
            output: Output::load(vb.pp("output"), c.intermediate_size, c, c.hidden_dropout_prob)?,
            activation: c.hidden_act,
        })
    }

    fn forward(
        &self,
        x: &Tensor,
        mask: &Tensor,
        drop: &mut Dropout,
        keep_probs: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let (attended, probs) = self.attention.forward(x, mask, drop, keep_probs)?;
        let inner = self.intermediate.forward_activated(&attended, self.activation)?;
        Ok((self.output.forward(&inner, &attended, drop)?, probs))
    }
}

impl Activation {
    pub fn apply(self, x: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Self::Gelu => ops::gelu(x)?,
            Self::GeluNew | Self::GeluPytorchTanh => x.gelu()?,
            Self::Relu => x.relu()?,
            Self::Tanh => x.tanh()?,
        })
    }
}

/// What one forward pass returns.
pub struct EncoderOutput {
    /// `[B, L, H]` final hidden states.
    pub hidden: Tensor,
    /// One `[B, heads, L, L]` tensor per layer, when asked for.
    pub attentions: Vec<Tensor>,
}

/// What the encoder reads: token ids, or the word vectors themselves (`[B, L, H]`, in place of
/// the word-embedding lookup), which is what gradient-based attributions differentiate by.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    Ids(&'a Tensor),
    WordVectors(&'a Tensor),
}

impl Input<'_> {
    fn len(&self) -> Result<usize> {
        Ok(match self {
            Self::Ids(t) | Self::WordVectors(t) => t.dim(1)?,
        })
    }
}

/// How a forward pass runs.
pub struct Pass<'a> {
    pub dropout: &'a mut Dropout,
    /// Gradients stop below this many layers (the embeddings count as frozen when > 0).
    pub frozen_layers: usize,
    pub keep_attentions: bool,
}

/// What turns the first token's final state into a sentence's features for a sequence head
/// (BERT's pooler; the dense layer of RoBERTa's, DistilBERT's and ELECTRA's heads): `[dropout]
/// → dense → activation`, as the family has it. Its parameters are `bert.pooler.dense` in every
/// family (`family.rs` names them in saves).
struct Pooler {
    dense: Linear,
    activation: Activation,
    /// Dropout before the dense layer (RoBERTa, ELECTRA).
    dropout_before: Option<f64>,
}

pub struct Encoder {
    embeddings: Embeddings,
    layers: Vec<Layer>,
    pooler: Pooler,
    pub config: EncoderConfig,
}

impl Encoder {
    /// Builds the encoder from `vb`, which holds (or creates) tensors with BERT's names
    /// relative to its root: `embeddings.…`, `encoder.layer.N.…`, `pooler.dense.…`.
    pub fn load(vb: VarBuilder, config: &EncoderConfig) -> Result<Self> {
        let layers = (0..config.num_hidden_layers)
            .map(|i| Layer::load(vb.pp(format!("encoder.layer.{i}")), config))
            .collect::<Result<Vec<_>>>()?;
        let head = &config.family().sentence;
        let pooler = Pooler {
            dense: Linear::load(vb.pp("pooler.dense"), config.hidden_size, config.hidden_size)?,
            activation: head.activation,
            dropout_before: head
                .dropout_before
                .then(|| config.classifier_dropout(crate::config::HeadKind::SeqCls)),
        };
        Ok(Self { embeddings: Embeddings::load(&vb, config)?, layers, pooler, config: config.clone() })
    }

    /// `ids`, `type_ids`: `[B, L]` u32; `attention_mask`: `[B, L]` f32 (1 = token, 0 = padding).
    pub fn forward(
        &self,
        ids: &Tensor,
        type_ids: &Tensor,
        attention_mask: &Tensor,
        pass: &mut Pass,
    ) -> Result<EncoderOutput> {
        self.forward_input(Input::Ids(ids), type_ids, attention_mask, pass)
    }

    /// `forward` from ids or from word vectors.
    pub fn forward_input(
        &self,
        input: Input,
        type_ids: &Tensor,
        attention_mask: &Tensor,
        pass: &mut Pass,
    ) -> Result<EncoderOutput> {
        let len = input.len()?;
        if len > self.config.max_tokens() {
            return Err(Error::Config(format!(
                "sequence of {len} tokens exceeds the model's {} positions; lower --max-len",
                self.config.max_tokens()
            )));
        }
        let mut x = self.embeddings.forward(input, type_ids, pass.dropout)?;
        if pass.frozen_layers > 0 {
            x = x.detach();
        }
        let mask = extended_mask(attention_mask)?;
        let mut attentions = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            let (out, probs) = layer.forward(&x, &mask, pass.dropout, pass.keep_attentions)?;
            x = if i < pass.frozen_layers { out.detach() } else { out };
            attentions.extend(probs);
        }
        Ok(EncoderOutput { hidden: x, attentions })
    }

    /// The word vectors of `ids` (`[B, L]` → `[B, L, H]`), as the first step of `forward` looks
    /// them up.
    pub fn word_vectors(&self, ids: &Tensor) -> Result<Tensor> {
        Ok(ops::lookup(&self.embeddings.word, ids)?)
    }

    /// The word-embedding matrix `[vocab, E]` (the masked-LM decoder is tied to it).
    pub fn word_embeddings(&self) -> &Tensor {
        &self.embeddings.word
    }

    /// A sentence's features from its first token's final state: BERT's pooled output
    /// `tanh(dense(hidden[:, 0]))`, or the family's head's first half.
    pub fn pool(&self, hidden: &Tensor, drop: &mut Dropout) -> Result<Tensor> {
        let mut first = hidden.narrow(1, 0, 1)?.squeeze(1)?;
        if let Some(p) = self.pooler.dropout_before {
            first = drop.apply(&first, p)?;
        }
        self.pooler.activation.apply(&self.pooler.dense.forward(&first)?)
    }
}

/// `[B, L]` 1/0 mask to an additive `[B, 1, 1, L]` mask: 0 for tokens, a huge negative for padding.
fn extended_mask(mask: &Tensor) -> Result<Tensor> {
    let (b, l) = mask.dims2()?;
    Ok(((mask.ones_like()? - mask)? * f64::from(f32::MIN))?.reshape((b, 1, 1, l))?)
}
