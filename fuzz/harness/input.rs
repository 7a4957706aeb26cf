//! A small reader that turns fuzzer bytes into structured values (lengths, choices, strings), so the
//! structured modes need no extra crate and a stored input replays the same way in `cargo test`.

pub struct Cursor<'a> {
    bytes: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The next byte, or 0 when the input is used up.
    pub fn byte(&mut self) -> u8 {
        match self.bytes.split_first() {
            Some((&b, rest)) => {
                self.bytes = rest;
                b
            }
            None => 0,
        }
    }

    /// A string of at most `max` bytes: a length byte, then that many bytes read as UTF-8 (lossily).
    pub fn text(&mut self, max: usize) -> String {
        let len = usize::from(self.byte()).min(max).min(self.bytes.len());
        let (head, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        String::from_utf8_lossy(head).into_owned()
    }

    /// A choice among `n` options, or None (about one time in eight) for "free text instead".
    pub fn pick(&mut self, n: usize) -> Option<usize> {
        let b = usize::from(self.byte());
        (b % 8 != 7 && n > 0).then(|| (b / 8) % n)
    }
}
