//! `Config::validate`: range checks whose messages name the key.

use super::{Config, ConfigError, ScheduleKind, MAX_LAYERS, MAX_TOKENS_PER_BATCH, MAX_WIDTH};

impl Config {
    /// Checks ranges; the error names the key, the value and what was expected.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let m = &self.model;
        check_count("model.hidden", m.hidden, MAX_WIDTH)?;
        check_count("model.layers", m.layers, MAX_LAYERS)?;
        if let Some(e) = m.embed {
            check_count("model.embed", e, MAX_WIDTH)?;
        }
        // The vocabulary is not known yet: count the recurrent layers' parameters alone (the
        // trainer checks again with it, and against free memory, before allocating).
        let recurrent = crate::budget::param_count(&crate::model::ModelDims::plain(
            m.cell,
            0,
            m.embed_dim(),
            m.hidden,
            m.layers,
        ));
        if recurrent > crate::budget::MAX_PARAMS as u128 {
            return Err(invalid(
                "model.hidden × model.layers",
                format!("at most {} parameters", crate::budget::MAX_PARAMS),
                format!(
                    "{recurrent} parameters (model.hidden = {}, model.layers = {}, model.embed = {})",
                    m.hidden,
                    m.layers,
                    m.embed_dim()
                ),
            ));
        }
        check_f64("model.dropout", m.dropout, "a number in [0, 1)", |x| {
            (0.0..1.0).contains(&x)
        })?;
        check_f64("model.init_scale", m.init_scale, "a number >= 0", |x| {
            x >= 0.0
        })?;
        if let Some(fb) = m.forget_bias {
            check_f64("model.forget_bias", fb, "a finite number", |_| true)?;
            if m.cell.forget_gate().is_none() {
                return Err(invalid(
                    "model.forget_bias",
                    "no value: only LSTM cells have a forget gate",
                    format!("{fb} with model.cell = {:?}", m.cell).to_lowercase(),
                ));
            }
        }

        let t = &self.train;
        if t.iterations == 0 {
            return Err(invalid("train.iterations", "a positive integer", "0"));
        }
        check_count("train.batch", t.batch, MAX_TOKENS_PER_BATCH)?;
        check_count("train.seq_len", t.seq_len, MAX_TOKENS_PER_BATCH)?;
        let tokens = t.batch.saturating_mul(t.seq_len);
        if tokens > MAX_TOKENS_PER_BATCH {
            return Err(invalid(
                "train.batch * train.seq_len",
                format!("at most {MAX_TOKENS_PER_BATCH} tokens per iteration"),
                format!("{} * {} = {tokens}", t.batch, t.seq_len),
            ));
        }
        check_f64("train.lr", t.lr, "a number > 0", |x| x > 0.0)?;
        let unit = "a number in [0, 1)";
        check_f64("train.beta1", t.beta1, unit, |x| (0.0..1.0).contains(&x))?;
        check_f64("train.beta2", t.beta2, unit, |x| (0.0..1.0).contains(&x))?;
        check_f64("train.rms_alpha", t.rms_alpha, unit, |x| {
            (0.0..1.0).contains(&x)
        })?;
        check_f64("train.eps", t.eps, "a number > 0", |x| x > 0.0)?;
        check_f64("train.weight_decay", t.weight_decay, "a number >= 0", |x| {
            x >= 0.0
        })?;
        check_f64(
            "train.grad_clip",
            t.grad_clip,
            "a number >= 0 (0 disables)",
            |x| x >= 0.0,
        )?;
        check_f64(
            "train.decay_rate",
            t.decay_rate,
            "a number in (0, 1]",
            |x| x > 0.0 && x <= 1.0,
        )?;
        check_f64("train.min_lr", t.min_lr, "a number in [0, train.lr]", |x| {
            x >= 0.0 && x <= t.lr
        })?;
        check_f64(
            "train.collective_timeout_s",
            t.collective_timeout_s,
            "a number of seconds ≥ 0 (0 waits forever)",
            |x| (0.0..=1e9).contains(&x),
        )?;
        check_f64(
            "train.input_noise",
            t.input_noise,
            "a number of quantization levels in [0, 64]",
            |x| (0.0..=64.0).contains(&x),
        )?;
        check_f64(
            "train.divergence_factor",
            t.divergence_factor,
            "a number >= 0 (0 disables)",
            |x| x >= 0.0,
        )?;
        if t.rollback_depth == 0 {
            return Err(invalid(
                "train.rollback_depth",
                "a positive integer (1 keeps only the last good state)",
                "0",
            ));
        }
        if t.schedule == ScheduleKind::Step && t.decay_every == 0 {
            return Err(invalid("train.decay_every", "a positive integer", "0"));
        }

        let g = &self.gym;
        if g.id.trim().is_empty() {
            return Err(invalid("gym.id", "a gym id like \"text-v1\"", "\"\""));
        }
        if !(g.val_fraction.is_finite() && (0.0..=0.5).contains(&g.val_fraction)) {
            return Err(invalid(
                "gym.val_fraction",
                "a number in [0, 0.5]",
                g.val_fraction.to_string(),
            ));
        }

        let s = &self.sample;
        check_f64("sample.temperature", s.temperature, "a number > 0", |x| {
            x > 0.0
        })?;
        check_f64("sample.top_p", s.top_p, "a number in (0, 1]", |x| {
            x > 0.0 && x <= 1.0
        })?;
        check_f64(
            "sample.pitch_sharpening",
            s.pitch_sharpening,
            "a number in [0, 10]",
            |x| (0.0..=10.0).contains(&x),
        )?;
        if let Some(t) = s.train_temperature {
            check_f64("sample.train_temperature", t, "a number > 0", |x| x > 0.0)?;
        }
        // The cap catches a sample count typed where seconds were meant (16000 is 4.4 hours).
        check_f64(
            "sample.train_seconds",
            s.train_seconds,
            "a number of seconds in [0, 600] (0 disables)",
            |x| (0.0..=600.0).contains(&x),
        )?;
        if t.sample_every > 0 && s.train_length == 0 {
            return Err(invalid(
                "sample.train_length",
                "a positive integer when train.sample_every > 0",
                "0",
            ));
        }

        if self.checkpoint.dir.trim().is_empty() {
            return Err(invalid("checkpoint.dir", "a directory path", "\"\""));
        }
        check_toml_integers(self)
    }
}

/// TOML integers are i64; larger values (set from code or a CLI flag) could not be saved.
fn check_toml_integers(c: &Config) -> Result<(), ConfigError> {
    let t = &c.train;
    let ints = [
        ("train.iterations", t.iterations),
        ("train.seed", t.seed),
        ("train.warmup", t.warmup),
        ("train.decay_every", t.decay_every),
        ("train.val_every", t.val_every),
        ("train.val_windows", t.val_windows),
        ("train.log_every", t.log_every),
        ("train.sample_every", t.sample_every),
        ("train.threads", t.threads as u64),
        ("sample.length", c.sample.length as u64),
        ("sample.top_k", c.sample.top_k as u64),
        ("sample.train_length", c.sample.train_length as u64),
        ("sample.seed", c.sample.seed.unwrap_or(0)),
        ("checkpoint.every", c.checkpoint.every),
    ];
    for (key, v) in ints {
        if v > i64::MAX as u64 {
            let expected = format!("an integer at most {}", i64::MAX);
            return Err(invalid(key, expected, v.to_string()));
        }
    }
    Ok(())
}

fn invalid(key: &str, expected: impl Into<String>, got: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        expected: expected.into(),
        got: got.into(),
    }
}

fn check_count(key: &str, v: usize, max: usize) -> Result<(), ConfigError> {
    if v == 0 {
        return Err(invalid(key, "a positive integer", "0"));
    }
    if v > max {
        return Err(invalid(key, format!("at most {max}"), v.to_string()));
    }
    Ok(())
}

/// Non-finite values fail every range check, so NaN and inf are refused here too.
fn check_f64(
    key: &str,
    v: f64,
    expected: &str,
    ok: impl Fn(f64) -> bool,
) -> Result<(), ConfigError> {
    if v.is_finite() && ok(v) {
        Ok(())
    } else {
        Err(invalid(key, expected, v.to_string()))
    }
}
