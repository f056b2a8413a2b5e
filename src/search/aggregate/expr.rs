//! RediSearch's expression language for APPLY and FILTER: a lexer after its Ragel scanner
//! (`expr/lexer.rl`) and a precedence-climbing parser with the precedences of its Lemon
//! grammar (`expr/parser.y`), lowest first: `||`, `&&`, `!`, the comparisons (which do not
//! chain), `+ -`, `* / %`, `^` (right-associative). Nesting is bounded ([`MAX_DEPTH`]) so a
//! hostile expression cannot exhaust the stack; the evaluator follows the same tree, so the
//! bound holds there too.
//!
//! Properties are resolved to row slots by the caller (see [`Expr::properties`]) before a row
//! is evaluated.

use std::cmp::Ordering;

use super::value::{compare, Value};

/// Parentheses, operators and calls deeper than this are refused.
pub const MAX_DEPTH: usize = 64;

/// An expression's whole length is bounded too: tokens are kept in memory while parsing.
pub const MAX_LEN: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Lit(Value),
    /// `@name`, and the row slot it reads once resolved.
    Prop(String, usize),
    Op(Op, Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Func(Func, Vec<Expr>),
}

impl Expr {
    /// How RediSearch's profile names an expression by its top node (`Operator *`,
    /// `Predicate >`, `Function upper`, `Property`, `Literal`).
    pub fn profile_kind(&self) -> String {
        match self {
            Expr::Lit(_) => "Literal".into(),
            Expr::Prop(..) => "Property".into(),
            Expr::Not(_) => "Predicate !".into(),
            Expr::Func(f, _) => format!("Function {}", f.name()),
            Expr::Op(op, ..) => {
                let (kind, sym) = match op {
                    Op::Add => ("Operator", "+"),
                    Op::Sub => ("Operator", "-"),
                    Op::Mul => ("Operator", "*"),
                    Op::Div => ("Operator", "/"),
                    Op::Mod => ("Operator", "%"),
                    Op::Pow => ("Operator", "^"),
                    Op::Eq => ("Predicate", "=="),
                    Op::Ne => ("Predicate", "!="),
                    Op::Lt => ("Predicate", "<"),
                    Op::Le => ("Predicate", "<="),
                    Op::Gt => ("Predicate", ">"),
                    Op::Ge => ("Predicate", ">="),
                    Op::And => ("Predicate", "&&"),
                    Op::Or => ("Predicate", "||"),
                };
                format!("{kind} {sym}")
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Prop(String),
    Sym(String),
    Str(String),
    Lp,
    Rp,
    Comma,
    Not,
    Op(Op),
}

struct Token {
    tok: Tok,
    pos: usize,
    /// What RediSearch quotes after `near`: the text of the last token that carries text
    /// (numbers, names, strings), even when the failing token is punctuation.
    near: String,
}

fn is_punct(b: u8) -> bool {
    b.is_ascii_punctuation()
}

fn lex(src: &str) -> Vec<Token> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut near = String::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        let mut push = |tok: Tok, near: &String| {
            out.push(Token {
                tok,
                pos: start,
                near: near.clone(),
            })
        };
        // A number (with its sign) is the longest match where it fits: `1 -1` is two numbers.
        let num_len = number_len(&b[i..]);
        let inf_len = inf_len(&b[i..]);
        if num_len > 0 && num_len >= inf_len {
            let text = &src[i..i + num_len];
            near = text.to_string();
            push(Tok::Num(text.parse().unwrap_or(f64::NAN)), &near);
            i += num_len;
            continue;
        }
        if inf_len > 0 {
            let text = &src[i..i + inf_len];
            near = text.to_string();
            let v = if c == b'-' {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            };
            push(Tok::Num(v), &near);
            i += inf_len;
            continue;
        }
        match c {
            b'@' => {
                let mut j = i + 1;
                while j < b.len() {
                    let d = b[j];
                    if d == b'\\' && j + 1 < b.len() && (is_punct(b[j + 1]) || b[j + 1] == b' ') {
                        j += 2;
                    } else if d == b'_' || !(is_punct(d) || d.is_ascii_control() || d == b' ') {
                        j += 1;
                    } else {
                        break;
                    }
                }
                if j == i + 1 {
                    // A lone `@` is punctuation, which the scanner skips.
                    i += 1;
                    continue;
                }
                let name = String::from_utf8_lossy(&b[i + 1..j]).into_owned();
                near = name.clone();
                push(Tok::Prop(name), &near);
                i = j;
            }
            b'"' | b'\'' => {
                let mut j = i + 1;
                let mut closed = false;
                while j < b.len() {
                    if b[j] == b'\\'
                        && j + 1 < b.len()
                        && (is_punct(b[j + 1]) || b[j + 1].is_ascii_whitespace())
                    {
                        j += 2;
                        continue;
                    }
                    if b[j] == c {
                        closed = true;
                        break;
                    }
                    if b[j] == b'\n' {
                        break;
                    }
                    j += 1;
                }
                if !closed {
                    // No rule matches an unterminated string: the scanner stops there.
                    break;
                }
                near = src[i..=j].to_string();
                push(Tok::Str(unescape(&b[i + 1..j])), &near);
                i = j + 1;
            }
            c if c.is_ascii_alphabetic() => {
                let mut j = i + 1;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                    j += 1;
                }
                near = src[i..j].to_string();
                push(Tok::Sym(near.clone()), &near);
                i = j;
            }
            _ => {
                let two = b.get(i..i + 2).unwrap_or_default();
                let (tok, len) = match two {
                    b"==" => (Some(Tok::Op(Op::Eq)), 2),
                    b"!=" => (Some(Tok::Op(Op::Ne)), 2),
                    b"<=" => (Some(Tok::Op(Op::Le)), 2),
                    b">=" => (Some(Tok::Op(Op::Ge)), 2),
                    b"&&" => (Some(Tok::Op(Op::And)), 2),
                    b"||" => (Some(Tok::Op(Op::Or)), 2),
                    _ => (
                        match c {
                            b'(' => Some(Tok::Lp),
                            b')' => Some(Tok::Rp),
                            b',' => Some(Tok::Comma),
                            b'!' => Some(Tok::Not),
                            b'<' => Some(Tok::Op(Op::Lt)),
                            b'>' => Some(Tok::Op(Op::Gt)),
                            b'+' => Some(Tok::Op(Op::Add)),
                            b'-' => Some(Tok::Op(Op::Sub)),
                            b'*' => Some(Tok::Op(Op::Mul)),
                            b'/' => Some(Tok::Op(Op::Div)),
                            b'%' => Some(Tok::Op(Op::Mod)),
                            b'^' => Some(Tok::Op(Op::Pow)),
                            _ => None,
                        },
                        1,
                    ),
                };
                match tok {
                    Some(t) => push(t, &near),
                    // Other punctuation, spaces and control characters are skipped; a byte
                    // no rule matches (outside a name or string) ends the scan.
                    None if c.is_ascii() => {}
                    None => break,
                }
                i += len;
            }
        }
    }
    out
}

/// `-? digit+ ('.' digit+)? ([eE] -? digit+)?` at the start of `b`, or 0. A `+` never
/// starts a number or an exponent in RediSearch's lexer (`@n+1` is an addition, `+1` and
/// `1e+2` are syntax errors there); a `-` does (`1-1` is a syntax error there too).
fn number_len(b: &[u8]) -> usize {
    let digits = |from: usize| {
        b[from.min(b.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    let mut i = usize::from(b.first() == Some(&b'-'));
    let d = digits(i);
    if d == 0 {
        return 0;
    }
    i += d;
    if b.get(i) == Some(&b'.') {
        let f = digits(i + 1);
        if f > 0 {
            i += 1 + f;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if b.get(j) == Some(&b'-') {
            j += 1;
        }
        let e = digits(j);
        if e > 0 {
            i = j + e;
        }
    }
    i
}

/// `[+-]? inf` not followed by more of a name, or 0.
fn inf_len(b: &[u8]) -> usize {
    let s = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let is_inf = b.get(s..s + 3) == Some(b"inf");
    let more = b
        .get(s + 3)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_');
    if is_inf && !(more && s == 0) {
        s + 3
    } else {
        0
    }
}

/// A string literal's content with RediSearch's escapes removed.
fn unescape(b: &[u8]) -> String {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 1 < b.len()
            && (is_punct(b[i + 1]) || b[i + 1].is_ascii_whitespace())
        {
            i += 1;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A parse failure, with RediSearch's text.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError(pub String);

struct Parser {
    toks: Vec<Token>,
    at: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at).map(|t| &t.tok)
    }

    fn syntax(&self) -> ParseError {
        let (pos, near) = match self.toks.get(self.at).or(self.toks.last()) {
            Some(t) => (t.pos, t.near.as_str()),
            None => (0, ""),
        };
        // The failing token's own text when it carries some (a name, a number, a string).
        let near = match self.toks.get(self.at) {
            Some(t)
                if matches!(
                    t.tok,
                    Tok::Num(_) | Tok::Prop(_) | Tok::Sym(_) | Tok::Str(_)
                ) =>
            {
                t.near.as_str()
            }
            _ => near,
        };
        ParseError(format!("Syntax error at offset {pos} near '{near}'"))
    }

    fn deeper(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError(format!(
                "Expression nested deeper than {MAX_DEPTH} levels"
            )));
        }
        Ok(())
    }

    /// An expression whose operators all bind tighter than `min`.
    fn expr(&mut self, min: u8) -> Result<Expr, ParseError> {
        self.deeper()?;
        let mut left = self.unary()?;
        while let Some(Tok::Op(op)) = self.peek().cloned() {
            let (bp, right_assoc) = binding(op);
            if bp < min {
                break;
            }
            self.at += 1;
            let right = self.expr(if right_assoc { bp } else { bp + 1 })?;
            if bp == CMP && matches!(self.peek(), Some(Tok::Op(o)) if binding(*o).0 == CMP) {
                // Comparisons do not chain (`1 < 2 < 3` is RediSearch's syntax error).
                return Err(self.syntax());
            }
            left = Expr::Op(op, Box::new(left), Box::new(right));
        }
        self.depth -= 1;
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        let Some(tok) = self.peek().cloned() else {
            return Err(self.syntax());
        };
        match tok {
            Tok::Not => {
                self.at += 1;
                self.deeper()?;
                let inner = self.expr(CMP)?;
                self.depth -= 1;
                // `!!x` is `x`, as RediSearch folds it.
                Ok(match inner {
                    Expr::Not(x) => *x,
                    x => Expr::Not(Box::new(x)),
                })
            }
            Tok::Lp => {
                self.at += 1;
                let e = self.expr(0)?;
                if self.peek() != Some(&Tok::Rp) {
                    return Err(self.syntax());
                }
                self.at += 1;
                Ok(e)
            }
            Tok::Num(n) => {
                self.at += 1;
                Ok(Expr::Lit(Value::Num(n)))
            }
            Tok::Str(s) => {
                self.at += 1;
                Ok(Expr::Lit(Value::Str(s)))
            }
            Tok::Prop(p) => {
                self.at += 1;
                Ok(Expr::Prop(p, usize::MAX))
            }
            Tok::Sym(name) => {
                self.at += 1;
                if self.peek() != Some(&Tok::Lp) {
                    if name == "NULL" {
                        return Ok(Expr::Lit(Value::Null));
                    }
                    return Err(ParseError(format!("Unknown symbol '{name}'")));
                }
                self.at += 1;
                let mut args = Vec::new();
                if self.peek() != Some(&Tok::Rp) {
                    loop {
                        args.push(self.expr(0)?);
                        match self.peek() {
                            Some(Tok::Comma) => self.at += 1,
                            Some(Tok::Rp) => break,
                            _ => return Err(self.syntax()),
                        }
                    }
                }
                self.at += 1;
                let Some(f) = Func::by_name(&name) else {
                    return Err(ParseError(format!("Unknown function name '{name}'")));
                };
                let (lo, hi) = f.arity();
                if args.len() < lo || args.len() > hi {
                    return Err(ParseError(format!(
                        "Invalid arguments for function '{name}'"
                    )));
                }
                Ok(Expr::Func(f, args))
            }
            _ => Err(self.syntax()),
        }
    }
}

const CMP: u8 = 4;

fn binding(op: Op) -> (u8, bool) {
    match op {
        Op::Or => (1, false),
        Op::And => (2, false),
        Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge => (CMP, false),
        Op::Add | Op::Sub => (5, false),
        Op::Mul | Op::Div | Op::Mod => (6, false),
        Op::Pow => (7, true),
    }
}

/// Parses an APPLY or FILTER expression.
pub fn parse(src: &[u8]) -> Result<Expr, ParseError> {
    if src.len() > MAX_LEN {
        return Err(ParseError(format!(
            "Expression longer than {MAX_LEN} bytes"
        )));
    }
    let text = String::from_utf8_lossy(src);
    let mut p = Parser {
        toks: lex(&text),
        at: 0,
        depth: 0,
    };
    let e = p.expr(0)?;
    if p.at < p.toks.len() {
        return Err(p.syntax());
    }
    Ok(e)
}

impl Expr {
    /// Every `@name` in the expression, for the caller to resolve to row slots.
    pub fn properties_mut(
        &mut self,
        f: &mut dyn FnMut(&str, &mut usize) -> Result<(), String>,
    ) -> Result<(), String> {
        match self {
            Expr::Prop(name, slot) => f(name, slot),
            Expr::Op(_, a, b) => {
                a.properties_mut(f)?;
                b.properties_mut(f)
            }
            Expr::Not(a) => a.properties_mut(f),
            Expr::Func(_, args) => args.iter_mut().try_for_each(|a| a.properties_mut(f)),
            Expr::Lit(_) => Ok(()),
        }
    }

    /// The expression's value for `row` (a row's slots; a missing slot reads as null).
    pub fn eval(&self, row: &[Option<Value>]) -> Result<Value, String> {
        match self {
            Expr::Lit(v) => Ok(v.clone()),
            Expr::Prop(_, slot) => Ok(row.get(*slot).cloned().flatten().unwrap_or(Value::Null)),
            Expr::Not(a) => Ok(bool_value(!a.eval(row)?.truthy())),
            Expr::Op(Op::And, a, b) => {
                Ok(bool_value(a.eval(row)?.truthy() && b.eval(row)?.truthy()))
            }
            Expr::Op(Op::Or, a, b) => {
                Ok(bool_value(a.eval(row)?.truthy() || b.eval(row)?.truthy()))
            }
            Expr::Op(op, a, b) => {
                let (l, r) = (a.eval(row)?, b.eval(row)?);
                match op {
                    Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge => {
                        let o = compare(&l, &r)
                            .map_err(|e| format!("Error converting string '{}' to number", e.0))?;
                        let t = match op {
                            Op::Eq => o == Ordering::Equal,
                            Op::Ne => o != Ordering::Equal,
                            Op::Lt => o == Ordering::Less,
                            Op::Le => o != Ordering::Greater,
                            Op::Gt => o == Ordering::Greater,
                            _ => o != Ordering::Less,
                        };
                        Ok(bool_value(t))
                    }
                    _ => {
                        let (Some(x), Some(y)) = (l.to_number(), r.to_number()) else {
                            return Err("Could not convert value to a number".into());
                        };
                        Ok(Value::Num(match op {
                            Op::Add => x + y,
                            Op::Sub => x - y,
                            Op::Mul => x * y,
                            Op::Div => x / y,
                            Op::Mod => {
                                // C's `(long long)x % (long long)y`; a zero divisor is NaN
                                // rather than the crash it would be in C.
                                let (x, y) = (x as i64, y as i64);
                                if y == 0 {
                                    f64::NAN
                                } else {
                                    x.wrapping_rem(y) as f64
                                }
                            }
                            _ => x.powf(y),
                        }))
                    }
                }
            }
            Expr::Func(f, args) => {
                let vals = args
                    .iter()
                    .map(|a| a.eval(row))
                    .collect::<Result<Vec<_>, _>>()?;
                super::functions::call(*f, vals)
            }
        }
    }
}

fn bool_value(b: bool) -> Value {
    Value::Num(if b { 1.0 } else { 0.0 })
}

pub use super::functions::Func;

/// Numbers the lexer reads, for the tests.
#[cfg(test)]
fn read_number(s: &str) -> Option<f64> {
    super::value::parse_number(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(src: &str) -> Result<Value, String> {
        let e = parse(src.as_bytes()).map_err(|e| e.0)?;
        e.eval(&[])
    }

    fn num(src: &str) -> f64 {
        match eval(src) {
            Ok(Value::Num(n)) => n,
            other => panic!("{src}: {other:?}"),
        }
    }

    #[test]
    fn arithmetic_and_precedence() {
        assert_eq!(num("1 + 2 * 3"), 7.0);
        assert_eq!(num("(1 + 2) * 3"), 9.0);
        assert_eq!(num("2 ^ 3 ^ 2"), 512.0);
        assert_eq!(num("10 - 2 - 3"), 5.0);
        assert_eq!(num("-7.5 % 2"), -1.0);
        assert_eq!(num("1 - -1"), 2.0);
        assert_eq!(num("1 < 2 && 2 < 3"), 1.0);
        assert_eq!(num("!1 == 2"), 1.0);
        assert_eq!(num("!!5"), 5.0);
        assert_eq!(num("0 || 3"), 1.0);
        assert_eq!(num("\"3\" + 1"), 4.0);
        assert_eq!(num("inf"), f64::INFINITY);
        assert_eq!(num("-inf"), f64::NEG_INFINITY);
        assert_eq!(read_number("1e3"), Some(1000.0));
    }

    #[test]
    fn errors_have_redisearchs_texts() {
        for (src, text) in [
            ("1+", "Syntax error at offset 1 near '1'"),
            ("@n -1", "Syntax error at offset 3 near '-1'"),
            ("foo(1)", "Unknown function name 'foo'"),
            ("lower(1,2)", "Invalid arguments for function 'lower'"),
            ("split()", "Invalid arguments for function 'split'"),
            ("bogus", "Unknown symbol 'bogus'"),
            ("1 < 2 < 3", "Syntax error at offset 6 near '2'"),
        ] {
            assert_eq!(parse(src.as_bytes()).unwrap_err().0, text, "{src}");
        }
        assert_eq!(
            eval("\"a\" + 1").unwrap_err(),
            "Could not convert value to a number"
        );
        assert_eq!(
            eval("\"b\" > 1").unwrap_err(),
            "Error converting string 'b' to number"
        );
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse(deep.as_bytes()).is_err());
        let nots = "!".repeat(10_000) + "1";
        assert!(parse(nots.as_bytes()).is_err());
        let pows = vec!["2"; 10_000].join("^");
        assert!(parse(pows.as_bytes()).is_err());
        let ok = format!("{}1{}", "(".repeat(20), ")".repeat(20));
        assert_eq!(num(&ok), 1.0);
    }

    /// Arbitrary bytes never panic the parser, and what parses evaluates without panicking.
    #[test]
    fn random_inputs_do_not_panic() {
        let alphabet: &[&str] = &[
            "(", ")", "@n", "1", "-1", "+", "-", "*", "/", "%", "^", "==", "!=", "<", ">=", "&&",
            "||", "!", ",", "\"s\"", "'x", "lower", "substr", "format", "split", "NULL", "inf",
            " ", "\\", "é", "1e400", "timefmt", "log",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            let mut s = String::new();
            for _ in 0..(seed % 12) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                s.push_str(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            if let Ok(mut e) = parse(s.as_bytes()) {
                let _ = e.properties_mut(&mut |_, slot| {
                    *slot = 0;
                    Ok(())
                });
                let _ = e.eval(&[Some(Value::Num(2.0))]);
            }
        }
    }
}
