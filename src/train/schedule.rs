//! Learning-rate schedule: linear warmup from 0, then linear decay to 0 (as Hugging Face's
//! `get_linear_schedule_with_warmup`, step for step).

#[derive(Debug, Clone, Copy)]
pub struct LinearSchedule {
    pub peak: f64,
    pub warmup_steps: usize,
    pub total_steps: usize,
}

impl LinearSchedule {
    pub fn new(peak: f64, warmup_ratio: f64, total_steps: usize) -> Self {
        let warmup_steps = (warmup_ratio * total_steps as f64).ceil() as usize;
        Self { peak, warmup_steps, total_steps }
    }

    /// The learning rate of the optimiser step that follows `done` completed steps.
    pub fn lr(&self, done: usize) -> f64 {
        if done < self.warmup_steps {
            return self.peak * done as f64 / self.warmup_steps.max(1) as f64;
        }
        let left = self.total_steps.saturating_sub(done) as f64;
        let span = self.total_steps.saturating_sub(self.warmup_steps).max(1) as f64;
        self.peak * (left / span).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warms_up_then_decays_to_zero() {
        let s = LinearSchedule::new(1.0, 0.1, 100);
        assert_eq!(s.warmup_steps, 10);
        assert_eq!(s.lr(0), 0.0);
        assert!((s.lr(5) - 0.5).abs() < 1e-12);
        assert!((s.lr(10) - 1.0).abs() < 1e-12);
        assert!((s.lr(55) - 0.5).abs() < 1e-12);
        assert_eq!(s.lr(100), 0.0);
        let flat = LinearSchedule::new(2.0, 0.0, 4);
        assert_eq!([flat.lr(0), flat.lr(1), flat.lr(3)], [2.0, 1.5, 0.5]);
    }
}
