//! Built-in codecs: [`CharCodec`] (Unicode characters) and [`OpaqueCodec`] (bare token ids),
//! with their saved forms ([`CharSpec`], [`OpaqueSpec`]) that [`crate::CodecRegistry`] rebuilds
//! them from.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::Value;

use crate::codecs::tagged;
use crate::{Codec, CodecSpec, GymError, UnknownPolicy};

/// Tokens are the sorted distinct Unicode scalar values (chars, not bytes) of a corpus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CharCodec {
    /// Token id → char, sorted ascending.
    chars: Vec<char>,
    /// Char → token id.
    index: HashMap<char, u32>,
}

impl CharCodec {
    /// The codec whose vocabulary is the distinct chars of `chars`, sorted.
    pub fn from_chars(chars: impl IntoIterator<Item = char>) -> CharCodec {
        let set: BTreeSet<char> = chars.into_iter().collect();
        let chars: Vec<char> = set.into_iter().collect();
        let index = chars
            .iter()
            .enumerate()
            .map(|(i, &c)| (c, i as u32))
            .collect();
        CharCodec { chars, index }
    }

    /// The codec whose vocabulary is the distinct chars of `text`, sorted.
    pub fn from_text(text: &str) -> CharCodec {
        Self::from_chars(text.chars())
    }

    /// The vocabulary, in token order (ascending code point).
    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    /// The char of token `token`, or `None` when it is outside the vocabulary.
    pub fn char_of(&self, token: u32) -> Option<char> {
        self.chars.get(token as usize).copied()
    }

    /// The token of `c`, or `None` when `c` is not in the vocabulary.
    pub fn token_of(&self, c: char) -> Option<u32> {
        self.index.get(&c).copied()
    }
}

impl Codec for CharCodec {
    fn kind(&self) -> &str {
        "char"
    }

    fn vocab_size(&self) -> usize {
        self.chars.len()
    }

    fn encode(&self, text: &str, policy: UnknownPolicy) -> Result<Vec<u32>, GymError> {
        let mut out = Vec::with_capacity(text.len());
        let (mut line, mut column) = (1usize, 1usize);
        for (pos, c) in text.chars().enumerate() {
            match (self.token_of(c), policy) {
                (Some(t), _) => out.push(t),
                (None, UnknownPolicy::Skip) => {}
                (None, UnknownPolicy::Error) => {
                    return Err(GymError::NotInVocabulary {
                        value: c.to_string(),
                        position: pos,
                        message: format!(
                            "character '{}' at position {pos} (line {line}, column {column}) is \
                             not in the vocabulary ({} characters)",
                            c.escape_debug(),
                            self.chars.len()
                        ),
                    });
                }
            }
            if c == '\n' {
                line += 1;
                column = 1;
            } else {
                column += 1;
            }
        }
        Ok(out)
    }

    fn render(&self, tokens: &[u32]) -> String {
        tokens
            .iter()
            .map(|&t| self.char_of(t).unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect()
    }

    fn spec(&self) -> Value {
        tagged(&CharSpec {
            vocab: self.chars.iter().collect(),
        })
    }
}

/// A codec for gyms whose tokens have no text form: token `17` renders as `⟨17⟩`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpaqueCodec {
    /// V: number of distinct tokens.
    pub vocab_size: usize,
}

impl OpaqueCodec {
    /// A codec over tokens `0..vocab_size`.
    pub fn new(vocab_size: usize) -> OpaqueCodec {
        OpaqueCodec { vocab_size }
    }
}

impl Codec for OpaqueCodec {
    fn kind(&self) -> &str {
        "opaque"
    }

    fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    fn encode(&self, text: &str, policy: UnknownPolicy) -> Result<Vec<u32>, GymError> {
        let bad = |pos: usize, what: &str| {
            GymError::Syntax(format!(
                "opaque tokens must be written as ⟨N⟩⟨M⟩... with no other characters; {what} \
                 at character {pos}"
            ))
        };
        let mut out = Vec::new();
        let mut chars = text.chars().enumerate().peekable();
        while let Some((start, c)) = chars.next() {
            if c != '⟨' {
                return Err(bad(start, &format!("found '{}'", c.escape_debug())));
            }
            let mut digits = String::new();
            loop {
                match chars.next() {
                    Some((_, d)) if d.is_ascii_digit() => digits.push(d),
                    Some((_, '⟩')) if !digits.is_empty() => break,
                    Some((p, d)) => {
                        return Err(bad(p, &format!("found '{}'", d.escape_debug())));
                    }
                    None => return Err(bad(start, "unterminated token")),
                }
            }
            let token = digits
                .parse::<u64>()
                .ok()
                .filter(|&t| t < self.vocab_size as u64);
            match (token, policy) {
                (Some(t), _) => out.push(t as u32),
                (None, UnknownPolicy::Skip) => {}
                (None, UnknownPolicy::Error) => {
                    return Err(GymError::NotInVocabulary {
                        message: format!(
                            "token ⟨{digits}⟩ at character {start} is outside the vocabulary \
                             (0..{})",
                            self.vocab_size
                        ),
                        value: format!("⟨{digits}⟩"),
                        position: start,
                    });
                }
            }
        }
        Ok(out)
    }

    fn render(&self, tokens: &[u32]) -> String {
        tokens.iter().map(|t| format!("⟨{t}⟩")).collect()
    }

    fn spec(&self) -> Value {
        tagged(&OpaqueSpec {
            vocab_size: self.vocab_size as u64,
        })
    }
}

/// The saved form of a [`CharCodec`]: its vocabulary, sorted distinct characters.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CharSpec {
    /// The vocabulary in token order.
    pub vocab: String,
}

impl CodecSpec for CharSpec {
    const KIND: &'static str = "char";

    fn build(self) -> Result<Arc<dyn Codec>, GymError> {
        let chars: Vec<char> = self.vocab.chars().collect();
        if chars.is_empty() {
            return Err(GymError::Config("'vocab' is empty".into()));
        }
        if let Some(w) = chars.windows(2).find(|w| w[0] >= w[1]) {
            return Err(GymError::Config(format!(
                "'vocab' must be sorted distinct characters; '{}' is followed by '{}'",
                w[0].escape_debug(),
                w[1].escape_debug()
            )));
        }
        Ok(Arc::new(CharCodec::from_chars(chars)))
    }
}

/// The saved form of an [`OpaqueCodec`]: its vocabulary size.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpaqueSpec {
    /// V: number of distinct tokens, 1..=u32::MAX.
    pub vocab_size: u64,
}

impl CodecSpec for OpaqueSpec {
    const KIND: &'static str = "opaque";

    fn build(self) -> Result<Arc<dyn Codec>, GymError> {
        let n = self.vocab_size;
        if n == 0 || n > u64::from(u32::MAX) {
            return Err(GymError::Config(format!(
                "'vocab_size' must be in 1..={}, got {n}",
                u32::MAX
            )));
        }
        Ok(Arc::new(OpaqueCodec::new(n as usize)))
    }
}
