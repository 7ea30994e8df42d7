//! Gym ids → constructors, and the codec kinds their checkpoints need. A config names a gym by
//! versioned id; users register their own gyms and codecs.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::{CodecRegistry, CodecSpec, Gym, GymError};

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
    /// Directory that relative paths are resolved against (the config file's directory; empty
    /// for the current directory). Paths given with `--set` are made absolute before a gym
    /// sees them, so they are unaffected.
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
    /// The `[gym.options]` keys that the built-in gyms read as paths (the token cache of
    /// [`crate::CacheOptions`], a process gym's working directory): like `path`, a relative
    /// one in a config file resolves against `base_dir`, and one given with `--set` against
    /// the current directory.
    pub const PATH_OPTIONS: [&'static str; 2] = ["cache_dir", "cwd"];

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

/// A gym type that knows its id and how to build itself from a config's `[gym]` section, for
/// [`GymRegistry::with`].
pub trait NamedGym {
    /// Versioned id (`name-vN`) a config's `gym.id` names.
    const ID: &'static str;
    /// Builds the gym, checking `spec.options` (unknown keys are errors naming the key).
    fn from_spec(spec: &GymSpec) -> Result<Box<dyn Gym>, GymError>;
}

/// Maps versioned gym ids to constructors, and codec kinds to the specs that rebuild them (a
/// checkpoint stores its codec's spec; sampling it needs the codec kind registered).
#[derive(Clone)]
pub struct GymRegistry {
    ctors: BTreeMap<String, GymCtor>,
    codecs: CodecRegistry,
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
            codecs: CodecRegistry::empty(),
        }
    }

    /// A registry holding the built-in gyms (`text-v1`, `wav-v1`, and on Unix `process-v1`)
    /// and codecs.
    pub fn with_builtins() -> Self {
        let mut r = Self::empty();
        r.codecs = CodecRegistry::with_builtins();
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

    /// This registry plus gym `G` (builder style, for a program's `main`).
    ///
    /// # Panics
    /// When `G::ID` is not versioned or already registered: a bug in the program, found the
    /// first time it runs.
    pub fn with<G: NamedGym>(mut self) -> Self {
        if let Err(e) = self.register(G::ID, G::from_spec) {
            panic!("GymRegistry::with: {e}");
        }
        self
    }

    /// This registry plus codec kind `S::KIND` (builder style), so checkpoints of gyms using
    /// that codec can be sampled and evaluated.
    ///
    /// # Panics
    /// When the kind is already registered (a bug in the program).
    pub fn with_codec<S: CodecSpec>(mut self) -> Self {
        if let Err(e) = self.codecs.register::<S>() {
            panic!("GymRegistry::with_codec: {e}");
        }
        self
    }

    /// Registers codec kind `S::KIND`, which must be new.
    pub fn register_codec<S: CodecSpec>(&mut self) -> Result<(), GymError> {
        self.codecs.register::<S>()
    }

    /// The codec kinds checkpoints of these gyms can be read with.
    pub fn codecs(&self) -> &CodecRegistry {
        &self.codecs
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
