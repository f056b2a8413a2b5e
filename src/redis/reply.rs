//! Replies as a small tree, written once for RESP2 and RESP3: a handler builds an [`R`] and
//! the edge sends it (maps become flat arrays, sets plain arrays, doubles bulk strings under
//! RESP2). Counts come from the tree, never by hand. Bulk strings borrow where they can, so a
//! tensor's or a model's bytes go from the stored value to the client's buffer in one copy.

use std::borrow::Cow;
use std::ffi::CString;

use super::Ctx;

pub enum R<'a> {
    Simple(&'static str),
    Bulk(Cow<'a, [u8]>),
    Int(i64),
    Null,
    /// A RESP3 double; a bulk string under RESP2.
    Double(f64),
    /// An error reply; the text carries its own `ERR ` or code prefix.
    Error(Cow<'a, str>),
    Arr(Vec<R<'a>>),
    Map(Vec<(&'static str, R<'a>)>),
    /// A map whose keys are not static (document fields); a `None` value is a null (a JSON
    /// document's null).
    Pairs(Vec<(Vec<u8>, Option<Vec<u8>>)>),
    Set(Vec<R<'a>>),
    /// A map whose keys are replies of their own (bulk strings chosen at run time); a flat
    /// array under RESP2.
    Dict(Vec<(R<'a>, R<'a>)>),
}

/// A bulk string copied from `s`.
pub fn bulk(s: impl AsRef<[u8]>) -> R<'static> {
    R::Bulk(Cow::Owned(s.as_ref().to_vec()))
}

/// A bulk string borrowing `s`.
pub fn bytes(s: &[u8]) -> R<'_> {
    R::Bulk(Cow::Borrowed(s))
}

/// `[name, value, ...]` pairs as RedisAI writes them: an array with bulk-string names (not a
/// RESP3 map: RedisAI's clients read a flat list under both protocols).
pub fn fields<'a>(pairs: Vec<(&'static str, R<'a>)>) -> R<'a> {
    R::Arr(
        pairs
            .into_iter()
            .flat_map(|(k, v)| [bytes(k.as_bytes()), v])
            .collect(),
    )
}

impl Ctx {
    /// Sends a whole reply.
    pub fn reply(&self, r: &R) {
        match r {
            R::Simple(s) => self.reply_simple(&CString::new(*s).unwrap_or_default()),
            R::Bulk(b) => self.reply_bulk(b),
            R::Int(i) => self.reply_long(*i),
            R::Null => self.reply_null(),
            R::Double(d) => self.reply_double(*d),
            R::Error(e) => self.reply_error(e),
            R::Arr(items) => {
                self.reply_array(items.len());
                items.iter().for_each(|i| self.reply(i));
            }
            R::Set(items) => {
                self.reply_set(items.len());
                items.iter().for_each(|i| self.reply(i));
            }
            R::Map(entries) => {
                self.reply_map(entries.len());
                for (k, v) in entries {
                    self.reply_simple(&CString::new(*k).unwrap_or_default());
                    self.reply(v);
                }
            }
            R::Dict(entries) => {
                self.reply_map(entries.len());
                for (k, v) in entries {
                    self.reply(k);
                    self.reply(v);
                }
            }
            R::Pairs(entries) => {
                self.reply_map(entries.len());
                for (k, v) in entries {
                    self.reply_bulk(k);
                    match v {
                        Some(v) => self.reply_bulk(v),
                        None => self.reply_null(),
                    }
                }
            }
        }
    }
}
