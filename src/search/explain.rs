//! FT.EXPLAIN / FT.EXPLAINCLI: a parsed query printed as RediSearch 2.10 prints its query
//! tree (`QueryNode_DumpSds`), so that the usual queries read the same on both.
//!
//! The tree printed is this engine's, which is shaped like RediSearch's for terms (a UNION of
//! the term and its stem expansions, unless VERBATIM), phrases, affixes, fuzzy terms, tags,
//! numeric ranges, negations, optional clauses, intersections, unions and KNN. Where the trees
//! differ the text does too: a clause over several fields (`@a|b:x`) is a union of one clause per field; nested unions and
//! intersections are flattened; a GEO radius is printed in metres.

use super::language::Language;
use super::postings::expansions;
use super::query::{Expr, Knn, Query, TagPattern, TextPattern};
use super::schema::Field;

/// The query tree as RediSearch's text, one line per node.
pub fn explain(query: &Query, fields: &[Field], verbatim: bool, language: Language) -> String {
    let p = Printer {
        fields,
        verbatim,
        language,
    };
    let mut out = String::new();
    match &query.knn {
        Some(knn) => p.knn(&mut out, &query.filter, knn),
        None => p.node(&mut out, &query.filter, 0),
    }
    out
}

#[derive(Clone, Copy)]
struct Attrs {
    weight: f64,
    slop: Option<u32>,
    inorder: bool,
}

impl Attrs {
    /// RediSearch's ` => { $weight: w; $slop: n; $inorder: b; }` after a group.
    fn suffix(self) -> String {
        let mut a = String::new();
        if self.weight != 1.0 {
            a.push_str(&format!(" $weight: {};", fmt_g(self.weight)));
        }
        if let Some(s) = self.slop {
            a.push_str(&format!(" $slop: {s};"));
        }
        if self.inorder || self.slop.is_some() {
            a.push_str(&format!(" $inorder: {};", self.inorder));
        }
        if a.is_empty() {
            a
        } else {
            format!(" => {{{a} }}")
        }
    }
}

struct Printer<'a> {
    fields: &'a [Field],
    verbatim: bool,
    language: Language,
}

fn pad(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

impl Printer<'_> {
    fn name(&self, field: usize) -> &str {
        self.fields.get(field).map_or("n/a", |f| f.name.as_str())
    }

    fn knn(&self, out: &mut String, filter: &Expr, knn: &Knn) {
        let field = self.name(knn.field);
        let yields = knn
            .alias
            .clone()
            .unwrap_or_else(|| format!("__{field}_score"));
        let what = format!(
            "K={} nearest vectors to `${}` in vector index associated with field @{field}, \
             yields distance as `{yields}`",
            knn.k, knn.param
        );
        if *filter == Expr::All {
            out.push_str(&format!("VECTOR {{{what}}}\n"));
        } else {
            out.push_str("VECTOR {\n");
            self.node(out, filter, 1);
            out.push_str(&format!("}} => {{{what}}}\n"));
        }
    }

    fn node(&self, out: &mut String, expr: &Expr, depth: usize) {
        self.node_with(out, expr, depth, None);
    }

    /// A node, with the `=>{…}` attributes written on it (RediSearch keeps them on the node).
    fn node_with(&self, out: &mut String, expr: &Expr, depth: usize, attrs: Option<Attrs>) {
        if let Expr::Opts {
            expr,
            weight,
            slop,
            inorder,
        } = expr
        {
            let attrs = Attrs {
                weight: *weight,
                slop: *slop,
                inorder: *inorder,
            };
            return self.node_with(out, expr, depth, Some(attrs));
        }
        let suffix = attrs.map_or(String::new(), |a| a.suffix());
        pad(out, depth);
        match expr {
            Expr::All => out.push_str("<WILDCARD>\n"),
            Expr::Or(parts) if parts.is_empty() => out.push_str("<empty>\n"),
            Expr::And(parts) => self.group(out, "INTERSECT {", parts, depth, &suffix),
            Expr::Or(parts) => self.group(out, "UNION {", parts, depth, &suffix),
            // RediSearch does not expand the terms under a negation.
            Expr::Not(inner) => Printer {
                fields: self.fields,
                verbatim: true,
                language: self.language,
            }
            .group(out, "NOT{", std::slice::from_ref(&**inner), depth, &suffix),
            Expr::Opts { .. } => {}
            // Nor under an optional clause.
            Expr::Optional(inner) => Printer {
                fields: self.fields,
                verbatim: true,
                language: self.language,
            }
            .group(
                out,
                "OPTIONAL{",
                std::slice::from_ref(&**inner),
                depth,
                &suffix,
            ),
            Expr::Tag { field, patterns } => {
                out.push_str(&format!("TAG:@{} {{\n", self.name(*field)));
                for p in patterns {
                    pad(out, depth + 1);
                    out.push_str(&match p {
                        TagPattern::Exact(v) => v.clone(),
                        TagPattern::Prefix(v) => format!("PREFIX{{{v}*}}"),
                        TagPattern::Suffix(v) => format!("SUFFIX{{*{v}}}"),
                        TagPattern::Contains(v) => format!("INFIX{{*{v}*}}"),
                    });
                    out.push('\n');
                }
                pad(out, depth);
                out.push('}');
                out.push_str(&suffix);
                out.push('\n');
            }
            Expr::Numeric {
                field,
                lo,
                lo_inclusive,
                hi,
                hi_inclusive,
            } => out.push_str(&format!(
                "NUMERIC {{{} {} @{} {} {}}}\n",
                fmt_f(*lo),
                if *lo_inclusive { "<=" } else { "<" },
                self.name(*field),
                if *hi_inclusive { "<=" } else { "<" },
                fmt_f(*hi)
            )),
            Expr::Geo {
                field,
                lon,
                lat,
                radius_m,
            } => out.push_str(&format!(
                "GEO {}:{{{},{} --> {} m}}\n",
                self.name(*field),
                fmt_f(*lon),
                fmt_f(*lat),
                fmt_f(*radius_m)
            )),
            Expr::Missing(field) => out.push_str(&format!("ISMISSING{{{}}}\n", self.name(*field))),
            Expr::VectorRange { field, radius, .. } => out.push_str(&format!(
                "VECTOR {{Vectors that are within {} distance radius in vector index \
                 associated with field @{}}}\n",
                fmt_g(*radius),
                self.name(*field)
            )),
            Expr::Text { field, pattern } => {
                // A term keeps only its weight, written its own way.
                let term_suffix = attrs
                    .filter(|a| a.weight != 1.0)
                    .map_or(String::new(), |a| {
                        format!(" => {{$weight: {};}}", fmt_g(a.weight))
                    });
                self.text(out, *field, pattern, depth, &suffix, &term_suffix)
            }
        }
    }

    fn group(&self, out: &mut String, head: &str, parts: &[Expr], depth: usize, suffix: &str) {
        out.push_str(head);
        out.push('\n');
        for p in parts {
            self.node(out, p, depth + 1);
        }
        pad(out, depth);
        out.push('}');
        out.push_str(suffix);
        out.push('\n');
    }

    fn text(
        &self,
        out: &mut String,
        field: Option<usize>,
        pattern: &TextPattern,
        depth: usize,
        suffix: &str,
        term_suffix: &str,
    ) {
        let scope = field.map_or(String::new(), |f| format!("@{}:", self.name(f)));
        out.push_str(&scope);
        match pattern {
            TextPattern::Term(t) if self.verbatim => {
                out.push_str(&format!("{t}{term_suffix}\n"));
            }
            TextPattern::Term(t) => {
                // The term itself carries its weight; its expansions do not.
                out.push_str("UNION {\n");
                for (i, e) in expansions(t, self.language).into_iter().enumerate() {
                    pad(out, depth + 1);
                    if i == 0 {
                        out.push_str(&format!("{scope}{e}{term_suffix}\n"));
                    } else {
                        out.push_str(&format!("{scope}{e}(expanded)\n"));
                    }
                }
                pad(out, depth);
                out.push_str("}\n");
            }
            TextPattern::Phrase(words) => {
                out.push_str("EXACT {\n");
                for w in words {
                    pad(out, depth + 1);
                    out.push_str(&format!("{scope}{w}\n"));
                }
                pad(out, depth);
                out.push('}');
                out.push_str(suffix);
                out.push('\n');
            }
            TextPattern::Prefix(p) => out.push_str(&format!("PREFIX{{{p}*}}\n")),
            TextPattern::Suffix(p) => out.push_str(&format!("SUFFIX{{*{p}}}\n")),
            TextPattern::Contains(p) => out.push_str(&format!("INFIX{{*{p}*}}\n")),
            TextPattern::Fuzzy(t, _) => out.push_str(&format!("FUZZY{{{t}}}\n")),
        }
    }
}

/// C's `%f`.
fn fmt_f(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    format!("{v:.6}")
}

/// C's `%g` for the values attributes take (weights, radii): six significant digits.
fn fmt_g(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let exp = v.abs().log10().floor() as i32;
    if !(-5..6).contains(&exp) {
        let s = format!("{v:.5e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let m = m.trim_end_matches('0').trim_end_matches('.');
        let e: i32 = e.parse().unwrap_or(0);
        return format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    let decimals = (5 - exp).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::{fmt_f, fmt_g};

    #[test]
    fn c_number_formats() {
        assert_eq!(fmt_f(1.0), "1.000000");
        assert_eq!(fmt_f(f64::INFINITY), "inf");
        assert_eq!(fmt_g(2.0), "2");
        assert_eq!(fmt_g(0.5), "0.5");
        assert_eq!(fmt_g(1234567.0), "1.23457e+06");
    }
}
