//! The vocabulary every argument grammar shares: a sequence of words however the caller
//! holds them, views into it, and Redis's integer syntax. Pure: the commands, the DAG, model
//! and script grammars, the configuration and the fuzz targets all read arguments with it.

/// A sequence of command words, however the caller holds them (a slice in tests, the
/// server's argument vector in the commands), so parsing never copies the argument list.
pub trait Words<'a> {
    fn count(&self) -> usize;
    fn word(&self, i: usize) -> &'a [u8];
}

impl<'a> Words<'a> for [&'a [u8]] {
    fn count(&self) -> usize {
        self.len()
    }
    fn word(&self, i: usize) -> &'a [u8] {
        self[i]
    }
}

/// The words of `inner` from index `from` on.
pub struct Tail<'w, W: ?Sized> {
    inner: &'w W,
    from: usize,
}

pub fn tail<W: ?Sized>(inner: &W, from: usize) -> Tail<'_, W> {
    Tail { inner, from }
}

impl<'a, W: Words<'a> + ?Sized> Words<'a> for Tail<'_, W> {
    fn count(&self) -> usize {
        self.inner.count().saturating_sub(self.from)
    }
    fn word(&self, i: usize) -> &'a [u8] {
        self.inner.word(self.from + i)
    }
}

/// `len` words of `inner` from index `from` on (one op of a DAG).
pub struct Window<'w, W: ?Sized> {
    inner: &'w W,
    from: usize,
    len: usize,
}

pub fn window<'a, W: Words<'a> + ?Sized>(inner: &W, from: usize, len: usize) -> Window<'_, W> {
    let len = len.min(inner.count().saturating_sub(from));
    Window { inner, from, len }
}

impl<'a, W: Words<'a> + ?Sized> Words<'a> for Window<'_, W> {
    fn count(&self) -> usize {
        self.len
    }
    fn word(&self, i: usize) -> &'a [u8] {
        assert!(i < self.len, "word {i} of a window of {}", self.len);
        self.inner.word(self.from + i)
    }
}

/// Redis `string2ll`: an optional `-`, then digits with no leading zero (a lone `0` is fine),
/// no `+`, no spaces, within `i64`.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    match digits {
        [] => return None,
        [b'0'] => return (!negative).then_some(0),
        [b'1'..=b'9', ..] => {}
        _ => return None,
    }
    // Accumulate as a negative number so i64::MIN parses without overflow.
    let mut acc: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        acc = acc.checked_mul(10)?.checked_sub(i64::from(c - b'0'))?;
    }
    if negative {
        Some(acc)
    } else {
        acc.checked_neg()
    }
}
