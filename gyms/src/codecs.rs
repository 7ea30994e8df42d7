//! Codec kinds → constructors: how a checkpoint's codec is rebuilt without the corpus.
//!
//! A codec's [`Codec::spec`] is a JSON object tagged by `"kind"`; the rest of the object is
//! a typed, serde-described [`CodecSpec`] registered under that kind. The built-in kinds
//! (`char`, `opaque`, `mulaw`, `linear`) are registered the same way a custom codec is.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::{Codec, GymError};

/// The saved form of a codec: a serde type whose fields rebuild it. Register it with
/// [`CodecRegistry::register`] (or [`crate::GymRegistry::with_codec`]) so checkpoints of a
/// gym that uses the codec can be sampled.
///
/// ```
/// use std::sync::Arc;
/// use rnngym_gyms::{CharCodec, Codec, CodecRegistry, CodecSpec, GymError};
///
/// /// A codec over the letters of one alphabet, saved as that alphabet.
/// #[derive(serde::Serialize, serde::Deserialize)]
/// #[serde(deny_unknown_fields)]
/// struct AlphabetSpec {
///     letters: String,
/// }
///
/// impl CodecSpec for AlphabetSpec {
///     const KIND: &'static str = "alphabet";
///     fn build(self) -> Result<Arc<dyn Codec>, GymError> {
///         Ok(Arc::new(CharCodec::from_text(&self.letters)))
///     }
/// }
///
/// let mut codecs = CodecRegistry::with_builtins();
/// codecs.register::<AlphabetSpec>().unwrap();
/// let spec = rnngym_gyms::codecs::tagged(&AlphabetSpec { letters: "ab".into() });
/// assert_eq!(spec["kind"], "alphabet");
/// assert_eq!(codecs.build(&spec).unwrap().vocab_size(), 2);
/// ```
pub trait CodecSpec: Serialize + DeserializeOwned {
    /// The `"kind"` tag, unique in a registry.
    const KIND: &'static str;
    /// The codec this spec describes; an `Err` names what is wrong with the values.
    fn build(self) -> Result<Arc<dyn Codec>, GymError>;
}

/// `spec` as the JSON object [`Codec::spec`] returns: its fields plus `"kind": S::KIND`.
pub fn tagged<S: CodecSpec>(spec: &S) -> Value {
    let mut obj = match serde_json::to_value(spec) {
        Ok(Value::Object(m)) => m,
        // A spec with no fields (a unit struct) serializes as null.
        _ => Map::new(),
    };
    obj.insert("kind".into(), Value::String(S::KIND.into()));
    Value::Object(obj)
}

/// Rebuilds a codec from a spec object without its `"kind"` key.
type CodecCtor = fn(Map<String, Value>) -> Result<Arc<dyn Codec>, GymError>;

/// Maps codec kinds to the typed specs that rebuild them.
#[derive(Clone)]
pub struct CodecRegistry {
    ctors: BTreeMap<String, CodecCtor>,
}

impl Default for CodecRegistry {
    fn default() -> Self {
        Self::with_builtins()
    }
}

impl CodecRegistry {
    /// A registry with no codec kinds.
    pub fn empty() -> Self {
        CodecRegistry {
            ctors: BTreeMap::new(),
        }
    }

    /// The built-in kinds: `char`, `opaque`, `mulaw` and `linear`.
    pub fn with_builtins() -> Self {
        let mut r = Self::empty();
        let builtins = [
            r.register::<crate::codec::CharSpec>(),
            r.register::<crate::codec::OpaqueSpec>(),
            r.register::<crate::wav::codec::MuLawSpec>(),
            r.register::<crate::wav::codec::LinearSpec>(),
        ];
        for b in builtins {
            b.expect("built-in codec kinds are unique");
        }
        r
    }

    /// Registers `S` under `S::KIND`, which must be new.
    pub fn register<S: CodecSpec>(&mut self) -> Result<(), GymError> {
        let kind = S::KIND;
        if kind.is_empty() || self.ctors.contains_key(kind) {
            return Err(GymError::Config(format!(
                "codec kind '{kind}' is empty or already registered"
            )));
        }
        self.ctors.insert(kind.to_string(), build_typed::<S>);
        Ok(())
    }

    /// The registered kinds, sorted.
    pub fn kinds(&self) -> Vec<String> {
        self.ctors.keys().cloned().collect()
    }

    /// Rebuilds the codec `spec` describes (as stored in checkpoints); never panics.
    pub fn build(&self, spec: &Value) -> Result<Arc<dyn Codec>, GymError> {
        let mut obj = match spec {
            Value::Object(m) => m.clone(),
            other => return Err(spec_error(format!("expected a JSON object, got {other}"))),
        };
        let known = || {
            self.ctors
                .keys()
                .map(|k| format!("\"{k}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let kind = match obj.remove("kind") {
            Some(Value::String(k)) => k,
            Some(other) => return Err(spec_error(format!("'kind' must be a string, got {other}"))),
            None => return Err(spec_error(format!("missing 'kind' (known: {})", known()))),
        };
        let ctor = self.ctors.get(&kind).ok_or_else(|| {
            spec_error(format!(
                "unknown kind \"{kind}\" (known: {}); a custom codec must be registered \
                 (GymRegistry::with_codec) by the program that reads the checkpoint",
                known()
            ))
        })?;
        ctor(obj).map_err(|e| match e {
            GymError::Config(m) if !m.starts_with("codec spec:") => {
                spec_error(format!("kind \"{kind}\": {m}"))
            }
            other => other,
        })
    }
}

/// Deserializes the fields of `S` (naming the field that is wrong) and builds the codec.
fn build_typed<S: CodecSpec>(obj: Map<String, Value>) -> Result<Arc<dyn Codec>, GymError> {
    let spec: S = serde_path_to_error::deserialize(Value::Object(obj)).map_err(|e| {
        let path = e.path().to_string();
        let msg = e.into_inner().to_string();
        match path.as_str() {
            "." => GymError::Config(msg),
            p => GymError::Config(format!("'{p}': {msg}")),
        }
    })?;
    spec.build()
}

/// Rebuilds a built-in codec from its [`Codec::spec`]; custom kinds need a
/// [`CodecRegistry`] that registered them.
pub fn codec_from_spec(v: &Value) -> Result<Arc<dyn Codec>, GymError> {
    static BUILTINS: LazyLock<CodecRegistry> = LazyLock::new(CodecRegistry::with_builtins);
    BUILTINS.build(v)
}

/// A bad codec spec: `msg` says what is wrong with it.
pub(crate) fn spec_error(msg: String) -> GymError {
    GymError::Config(format!("codec spec: {msg}"))
}
