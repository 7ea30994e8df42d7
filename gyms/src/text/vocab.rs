//! The two streaming passes over a corpus: [`VocabScan`] finds the distinct characters and
//! counts them; [`Encoder`] turns text into token ids. Both work piece by piece, in constant
//! memory, with table lookups rather than hashing so a gigabyte takes seconds.

use crate::CharCodec;

/// One bit per Unicode scalar value (0..=0x10FFFF): 139 KiB.
const WORDS: usize = 0x11_0000 / 64;

/// Pass 1: which characters occur, and how many characters there are.
pub(crate) struct VocabScan {
    seen: Vec<u64>,
    /// Characters seen so far.
    pub(crate) chars: u64,
}

impl VocabScan {
    /// An empty scan.
    pub(crate) fn new() -> VocabScan {
        VocabScan {
            seen: vec![0; WORDS],
            chars: 0,
        }
    }

    /// Adds the characters of `text`.
    pub(crate) fn add(&mut self, text: &str) {
        if text.is_ascii() {
            // The common case: one byte per char, all in the first two words.
            let (mut lo, mut hi) = (0u64, 0u64);
            for b in text.bytes() {
                if b < 64 {
                    lo |= 1 << b;
                } else {
                    hi |= 1 << (b - 64);
                }
            }
            self.seen[0] |= lo;
            self.seen[1] |= hi;
            self.chars += text.len() as u64;
            return;
        }
        for c in text.chars() {
            let i = c as usize;
            self.seen[i / 64] |= 1 << (i % 64);
            self.chars += 1;
        }
    }

    /// The codec over the characters seen, in ascending order.
    pub(crate) fn codec(&self) -> CharCodec {
        let chars = self.seen.iter().enumerate().flat_map(|(w, &bits)| {
            (0..64)
                .filter(move |b| bits & (1 << b) != 0)
                .filter_map(move |b| char::from_u32((w * 64 + b) as u32))
        });
        CharCodec::from_chars(chars)
    }
}

/// Pass 2: characters to token ids through a two-level table (256-char pages, only the pages
/// the vocabulary touches are stored).
pub(crate) struct Encoder {
    /// Page number (`c >> 8`) → index of its page in `table`, or `u32::MAX` when absent.
    pages: Vec<u32>,
    /// 256 entries per present page: the token, or `u32::MAX` for a char outside the vocabulary.
    table: Vec<u32>,
}

impl Encoder {
    /// The table for `codec`'s vocabulary.
    pub(crate) fn new(codec: &CharCodec) -> Encoder {
        let mut pages = vec![u32::MAX; 0x11_0000 >> 8];
        let mut table = Vec::new();
        for (token, &c) in codec.chars().iter().enumerate() {
            let page = (c as usize) >> 8;
            if pages[page] == u32::MAX {
                pages[page] = (table.len() / 256) as u32;
                table.resize(table.len() + 256, u32::MAX);
            }
            table[pages[page] as usize * 256 + (c as usize & 255)] = token as u32;
        }
        Encoder { pages, table }
    }

    /// Appends the tokens of `text` to `out`; `None` at the first char outside the vocabulary
    /// (cannot happen when the vocabulary came from a scan of the same text).
    pub(crate) fn encode(&self, text: &str, out: &mut Vec<u32>) -> Option<()> {
        out.reserve(text.len());
        for c in text.chars() {
            let page = *self.pages.get((c as usize) >> 8)?;
            if page == u32::MAX {
                return None;
            }
            let t = self.table[page as usize * 256 + (c as usize & 255)];
            if t == u32::MAX {
                return None;
            }
            out.push(t);
        }
        Some(())
    }
}
