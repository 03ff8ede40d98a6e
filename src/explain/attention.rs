//! The encoder's attention probabilities for one input, and attention rollout across layers.

use candle_core::Tensor;

use crate::error::{Error, Result};

/// `layers × heads` maps of `len × len` probabilities; in each, row `q` (a query token) says
/// how its attention splits over the key tokens (columns) and sums to 1.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AttentionMaps {
    pub layers: usize,
    pub heads: usize,
    pub len: usize,
    probs: Vec<f32>,
}

impl AttentionMaps {
    /// From flat probabilities, layer by layer, head by head, row-major.
    pub fn new(layers: usize, heads: usize, len: usize, probs: Vec<f32>) -> Result<Self> {
        if probs.len() != layers * heads * len * len {
            return Err(Error::Config(format!(
                "{} attention probabilities for {layers} layers × {heads} heads × {len}² tokens",
                probs.len()
            )));
        }
        Ok(Self { layers, heads, len, probs })
    }

    /// From the encoder's per-layer `[1, heads, L, L]` tensors of one example.
    pub fn from_tensors(per_layer: &[Tensor]) -> Result<Self> {
        let Some(first) = per_layer.first() else {
            return Err(Error::Config("the encoder returned no attention maps".into()));
        };
        let (_, heads, len, _) = first.dims4()?;
        let mut probs = Vec::with_capacity(per_layer.len() * heads * len * len);
        for layer in per_layer {
            probs.extend(layer.flatten_all()?.to_vec1::<f32>()?);
        }
        Self::new(per_layer.len(), heads, len, probs)
    }

    /// One head's map, `len × len` row-major.
    pub fn map(&self, layer: usize, head: usize) -> &[f32] {
        let size = self.len * self.len;
        &self.probs[(layer * self.heads + head) * size..][..size]
    }

    /// Attention rollout (Abnar & Zuidema, 2020): how much of each final token's representation
    /// flows from each input token, following the attention through every layer. Each layer's
    /// heads are averaged and the residual connection is counted as half the flow
    /// (`½·A + ½·I`); the layers' matrices are multiplied from the bottom up. `len × len`
    /// row-major; every row sums to 1.
    pub fn rollout(&self) -> Vec<f64> {
        let n = self.len;
        let mut flow: Vec<f64> = (0..n * n).map(|i| if i / n == i % n { 1.0 } else { 0.0 }).collect();
        for layer in 0..self.layers {
            let mut mixed = vec![0.0; n * n];
            for head in 0..self.heads {
                for (m, &p) in mixed.iter_mut().zip(self.map(layer, head)) {
                    *m += f64::from(p) / self.heads as f64;
                }
            }
            for (i, m) in mixed.iter_mut().enumerate() {
                *m = 0.5 * *m + if i / n == i % n { 0.5 } else { 0.0 };
            }
            for row in mixed.chunks_exact_mut(n) {
                let sum: f64 = row.iter().sum();
                if sum > 0.0 {
                    for v in row.iter_mut() {
                        *v /= sum;
                    }
                }
            }
            // flow ← mixed · flow: this layer's mixing of what the layers below carried.
            let mut next = vec![0.0; n * n];
            for q in 0..n {
                for j in 0..n {
                    let a = mixed[q * n + j];
                    if a != 0.0 {
                        for k in 0..n {
                            next[q * n + k] += a * flow[j * n + k];
                        }
                    }
                }
            }
            flow = next;
        }
        flow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uniform_rows(layers: usize, heads: usize, len: usize) -> AttentionMaps {
        let p = 1.0 / len as f32;
        AttentionMaps::new(layers, heads, len, vec![p; layers * heads * len * len]).expect("maps")
    }

    #[test]
    fn rollout_rows_are_distributions_and_follow_the_layers() {
        let maps = uniform_rows(2, 2, 3);
        let r = maps.rollout();
        for row in r.chunks_exact(3) {
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-7, "{row:?}");
        }
        // One layer of uniform attention: ½·⅓ to every token, plus ½ to itself.
        let one = uniform_rows(1, 1, 3).rollout();
        // (f32 probabilities: thirds are not exact.)
        assert!((one[0] - (0.5 + 0.5 / 3.0)).abs() < 1e-7 && (one[1] - 0.5 / 3.0).abs() < 1e-7);
        // Two layers mix more: the token's own share shrinks.
        assert!(r[0] < one[0], "{} vs {}", r[0], one[0]);
    }

    #[test]
    fn rollout_of_attention_to_the_first_token_flows_there() {
        // Every query attends only to token 0, in both layers.
        let len = 4;
        let map: Vec<f32> = (0..len * len).map(|i| if i % len == 0 { 1.0 } else { 0.0 }).collect();
        let maps = AttentionMaps::new(2, 1, len, [map.clone(), map].concat()).expect("maps");
        let r = maps.rollout();
        // Token 3's final vector: ½ from itself after each layer (¼), the rest from token 0.
        assert!((r[3 * len] - 0.75).abs() < 1e-12 && (r[3 * len + 3] - 0.25).abs() < 1e-12, "{r:?}");
        assert_eq!(r[3 * len + 1], 0.0);
    }

    #[test]
    fn maps_of_the_wrong_size_are_refused() {
        assert!(AttentionMaps::new(1, 1, 3, vec![0.0; 8]).is_err());
    }
}
