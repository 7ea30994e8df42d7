//! Gym ids → constructors. A config names a gym by versioned id; users register their own.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::{Gym, GymError};

/// The `[gym]` section of a config: which gym, where its data is, and its own options.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GymSpec {
    /// Versioned gym id, e.g. `"text-v1"` (the default).
    #[serde(default = "default_id")]
    pub id: String,
    /// Data location: a file, a directory, or a glob pattern (relative to `base_dir`).
    #[serde(default)]
    pub path: Option<String>,
    /// Fraction of the data held out for validation (taken from the tail).
    #[serde(default = "default_val_fraction")]
    pub val_fraction: f64,
    /// Gym-specific options (`[gym.options]`), checked by the gym's constructor.
    #[serde(default)]
    pub options: toml::Table,
    /// Directory that relative paths are resolved against (the config file's directory).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

fn default_id() -> String {
    crate::text::ID.to_string()
}

fn default_val_fraction() -> f64 {
    0.1
}

impl GymSpec {
    /// A spec for gym `id` with no path and default options.
    pub fn new(id: &str) -> Self {
        GymSpec {
            id: id.to_string(),
            path: None,
            val_fraction: default_val_fraction(),
            options: toml::Table::new(),
            base_dir: PathBuf::new(),
        }
    }
}

/// Builds a gym from its spec.
pub type GymCtor = fn(&GymSpec) -> Result<Box<dyn Gym>, GymError>;

/// Maps versioned ids to constructors.
#[derive(Clone)]
pub struct GymRegistry {
    ctors: BTreeMap<String, GymCtor>,
}

impl Default for GymRegistry {
    fn default() -> Self {
        Self::with_builtins()
    }
}

impl GymRegistry {
    /// An empty registry.
    pub fn empty() -> Self {
        GymRegistry {
            ctors: BTreeMap::new(),
        }
    }

    /// A registry holding the built-in gyms (`text-v1`, `wav-v1`, and on Unix `process-v1`).
    pub fn with_builtins() -> Self {
        let mut r = Self::empty();
        r.register(crate::text::ID, crate::text::TextGym::from_spec_boxed)
            .expect("built-in ids are unique");
        r.register(crate::wav::ID, crate::wav::WavGym::from_spec_boxed)
            .expect("built-in ids are unique");
        #[cfg(unix)]
        r.register(
            crate::process::ID,
            crate::process::ProcessGym::from_spec_boxed,
        )
        .expect("built-in ids are unique");
        r
    }

    /// Registers `id`; ids must look like `name-vN` and be new.
    pub fn register(&mut self, id: &str, ctor: GymCtor) -> Result<(), GymError> {
        let versioned = id.rsplit_once("-v").is_some_and(|(name, v)| {
            !name.is_empty() && !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())
        });
        if !versioned {
            return Err(GymError::Config(format!(
                "gym id '{id}' must be versioned like 'name-v1'"
            )));
        }
        if self.ctors.contains_key(id) {
            return Err(GymError::Config(format!(
                "gym id '{id}' is already registered"
            )));
        }
        self.ctors.insert(id.to_string(), ctor);
        Ok(())
    }

    /// The registered ids, sorted.
    pub fn ids(&self) -> Vec<String> {
        self.ctors.keys().cloned().collect()
    }

    /// Builds the gym named by `spec.id`.
    pub fn make(&self, spec: &GymSpec) -> Result<Box<dyn Gym>, GymError> {
        let ctor = self.ctors.get(&spec.id).ok_or_else(|| {
            GymError::Config(format!(
                "gym.id: unknown gym '{}'; registered gyms: {}",
                spec.id,
                self.ids().join(", ")
            ))
        })?;
        ctor(spec)
    }
}
