//! Argument grammar of AI.SCRIPTSTORE, AI.SCRIPTSET, AI.SCRIPTGET, AI.SCRIPTEXECUTE and
//! AI.SCRIPTRUN (spec §4.9–§4.14), shared by the commands and the DAG ops. Pure: positions
//! point into the parsed words; the caller reads keys. Errors and their order are RedisAI's.

use crate::args::parse_i64;
use crate::args::Words;
use crate::error::{AiError, AiResult};

fn is(word: &[u8], keyword: &str) -> bool {
    word.eq_ignore_ascii_case(keyword.as_bytes())
}

/// AI.SCRIPTSTORE / AI.SCRIPTSET after the key: device, tag, entry points, source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreArgs<'a> {
    pub device: &'a [u8],
    pub tag: &'a [u8],
    pub entry_points: Vec<&'a [u8]>,
    pub source: &'a [u8],
}

/// `<device> [TAG <tag>] ENTRY_POINTS <n> <fn>... SOURCE <text>` (the words after the key).
pub fn parse_scriptstore<'a, W: Words<'a> + ?Sized>(w: &W) -> AiResult<StoreArgs<'a>> {
    const MISSING_EP: AiError =
        AiError::Script("ERR Insufficient arguments, missing script entry points");
    const MISSING_SOURCE: AiError =
        AiError::Script("ERR Insufficient arguments, missing script SOURCE");
    let n = w.count();
    let device = w.word(0);
    let mut pos = 1;
    let mut tag: &[u8] = b"";
    if pos + 1 < n && is(w.word(pos), "TAG") {
        tag = w.word(pos + 1);
        pos += 2;
    }
    if pos >= n || !is(w.word(pos), "ENTRY_POINTS") || pos + 1 >= n {
        return Err(MISSING_EP);
    }
    let count = parse_i64(w.word(pos + 1))
        .filter(|&c| c >= 0)
        .ok_or(AiError::Script(
            "ERR Non numeric entry points number provided to AI.SCRIPTSTORE command",
        ))? as u64;
    pos += 2;
    if (n - pos) as u64 <= count {
        // Fewer names than announced, or nothing left for SOURCE after them.
        return Err(if (n - pos) as u64 >= count {
            MISSING_SOURCE
        } else {
            MISSING_EP
        });
    }
    let entry_points: Vec<&[u8]> = (pos..pos + count as usize).map(|i| w.word(i)).collect();
    pos += count as usize;
    if !is(w.word(pos), "SOURCE") || pos + 1 >= n {
        return Err(MISSING_SOURCE);
    }
    if pos + 2 < n {
        return Err(AiError::Backend(format!(
            "ERR Invalid AI.SCRIPTSTORE command. Unexpected argument: {}",
            String::from_utf8_lossy(w.word(pos + 2))
        )));
    }
    Ok(StoreArgs {
        device,
        tag,
        entry_points,
        source: w.word(pos + 1),
    })
}

/// `<device> [TAG <tag>] SOURCE <text>` (AI.SCRIPTSET, the words after the key; the caller
/// checked there are 3 or 5).
pub fn parse_scriptset<'a, W: Words<'a> + ?Sized>(w: &W) -> AiResult<StoreArgs<'a>> {
    let n = w.count();
    let device = w.word(0);
    let mut pos = 1;
    let mut tag: &[u8] = b"";
    if n == 5 && is(w.word(1), "TAG") {
        tag = w.word(2);
        pos = 3;
    }
    if pos + 2 != n || !is(w.word(pos), "SOURCE") {
        return Err(AiError::Script(
            "ERR Insufficient arguments, missing script SOURCE",
        ));
    }
    Ok(StoreArgs {
        device,
        tag,
        entry_points: Vec::new(),
        source: w.word(pos + 1),
    })
}

/// AI.SCRIPTGET's words after the key: (meta, source); neither or both means both.
pub fn parse_scriptget<'a, W: Words<'a> + ?Sized>(w: &W) -> (bool, bool) {
    let (mut meta, mut source) = (false, false);
    for i in 0..w.count() {
        meta |= is(w.word(i), "META");
        source |= is(w.word(i), "SOURCE");
    }
    if meta == source {
        (true, true)
    } else {
        (meta, source)
    }
}

/// A parsed script call: positions of its words (relative to the words given).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecArgs {
    pub keys: Vec<usize>,
    pub inputs: Vec<usize>,
    pub args: Vec<usize>,
    pub outputs: Vec<usize>,
    /// Whether OUTPUTS was given (its count is then what the function must return).
    pub timeout_ms: Option<u64>,
}

/// AI.SCRIPTEXECUTE after `<key> <function>`: `[KEYS n k...] [INPUTS n t...] [ARGS n a...]
/// [OUTPUTS n o...] [TIMEOUT ms]`. `standalone` enforces KEYS or INPUTS first (not in DAGs).
pub fn parse_scriptexecute<'a, W: Words<'a> + ?Sized>(
    w: &W,
    standalone: bool,
) -> AiResult<ExecArgs> {
    let n = w.count();
    if standalone && (n == 0 || !(is(w.word(0), "KEYS") || is(w.word(0), "INPUTS"))) {
        return Err(AiError::Script(
            "ERR KEYS or INPUTS scope must be provided first for AI.SCRIPTEXECUTE command",
        ));
    }
    let mut out = ExecArgs::default();
    let mut seen = [false; 4];
    let mut pos = 0;
    while pos < n {
        let word = w.word(pos);
        if is(word, "TIMEOUT") {
            let value = (pos + 1 < n)
                .then(|| w.word(pos + 1))
                .ok_or(AiError::Script(
                    "ERR No value provided for TIMEOUT in AI.SCRIPTEXECUTE",
                ))?;
            let ms = parse_i64(value)
                .filter(|&t| t > 0)
                .ok_or(AiError::TimeoutInvalid)?;
            out.timeout_ms = Some(ms as u64);
            pos += 2;
            if pos < n {
                return Err(unexpected(w.word(pos)));
            }
            break;
        }
        let section = ["KEYS", "INPUTS", "ARGS", "OUTPUTS"]
            .iter()
            .position(|k| is(word, k))
            .ok_or_else(|| unexpected(word))?;
        if seen[section] {
            return Err(AiError::Script(match section {
                0 => "ERR Already Encountered KEYS scope in AI.SCRIPTEXECUTE command",
                1 => "ERR Already Encountered INPUTS scope in AI.SCRIPTEXECUTE command",
                2 => "ERR Already Encountered ARGS scope in AI.SCRIPTEXECUTE command",
                _ => "ERR Already Encountered OUTPUTS scope in AI.SCRIPTEXECUTE command",
            }));
        }
        seen[section] = true;
        let (missing, invalid, mismatch) = match section {
            0 => (
                "ERR Missing arguments after KEYS keyword",
                "ERR Invalid or negative value found in number of KEYS",
                "ERR Number of pre declared KEYS to be used in the command does not match the number of given arguments",
            ),
            1 => (
                "ERR Invalid arguments provided to AI.SCRIPTEXECUTE",
                "ERR Invalid argument for inputs count in AI.SCRIPTEXECUTE",
                "ERR number of inputs to AI.SCRIPTEXECUTE command does not match the number of given arguments",
            ),
            2 => (
                "ERR Invalid arguments provided to AI.SCRIPTEXECUTE",
                "ERR Invalid argument for keys count in AI.SCRIPTEXECUTE",
                "ERR number of args to AI.SCRIPTEXECUTE command does not match the number of given arguments",
            ),
            _ => (
                "ERR Invalid arguments provided to AI.SCRIPTEXECUTE",
                "ERR Invalid argument for outputs count in AI.SCRIPTEXECUTE",
                "ERR number of outputs to AI.SCRIPTEXECUTE command does not match the number of given arguments",
            ),
        };
        if pos + 1 >= n || (section == 0 && pos + 2 >= n) {
            return Err(AiError::Script(missing));
        }
        let count = parse_i64(w.word(pos + 1))
            .filter(|&c| if section == 0 { c > 0 } else { c >= 0 })
            .ok_or(AiError::Script(invalid))? as u64;
        let first = pos + 2;
        if ((n - first) as u64) < count {
            return Err(AiError::Script(mismatch));
        }
        let items: Vec<usize> = (first..first + count as usize).collect();
        match section {
            0 => out.keys = items,
            1 => out.inputs = items,
            2 => out.args = items,
            _ => out.outputs = items,
        }
        pos = first + count as usize;
    }
    Ok(out)
}

fn unexpected(word: &[u8]) -> AiError {
    AiError::Backend(format!(
        "ERR Invalid AI.SCRIPTEXECUTE command. Unexpected argument: {}",
        String::from_utf8_lossy(word)
    ))
}

/// AI.SCRIPTRUN after `<key> <function>`: `[TIMEOUT t] INPUTS <in>... [$ <in>...]
/// OUTPUTS <out>...` (deprecated; no counts).
pub fn parse_scriptrun<'a, W: Words<'a> + ?Sized>(w: &W) -> AiResult<ExecArgs> {
    #[derive(PartialEq)]
    enum In {
        Nothing,
        Inputs,
        Outputs,
    }
    let mut out = ExecArgs::default();
    let mut at = In::Nothing;
    let (mut inputs_seen, mut outputs_seen, mut timeout_seen, mut variadic) =
        (false, false, false, false);
    let mut pos = 0;
    while pos < w.count() {
        let word = w.word(pos);
        if is(word, "TIMEOUT") && at == In::Nothing {
            if timeout_seen {
                return Err(AiError::Script(
                    "ERR Already encountered an TIMEOUT section in SCRIPTRUN",
                ));
            }
            timeout_seen = true;
            let value = (pos + 1 < w.count()).then(|| w.word(pos + 1));
            let ms = value
                .and_then(parse_i64)
                .filter(|&t| t > 0)
                .ok_or(AiError::TimeoutInvalid)?;
            out.timeout_ms = Some(ms as u64);
            pos += 2;
            continue;
        }
        if is(word, "INPUTS") {
            if inputs_seen {
                return Err(AiError::Script(if at == In::Outputs {
                    "ERR Already encountered an INPUTS keyword in SCRIPTRUN"
                } else {
                    "ERR Already encountered an INPUTS section in SCRIPTRUN"
                }));
            }
            inputs_seen = true;
            at = In::Inputs;
        } else if is(word, "OUTPUTS") {
            if outputs_seen {
                return Err(AiError::Script(
                    "ERR Already encountered an OUTPUTS keyword in SCRIPTRUN",
                ));
            }
            outputs_seen = true;
            at = In::Outputs;
        } else if word == b"$" {
            if at != In::Inputs {
                return Err(AiError::Script(
                    "ERR Encountered a variable size list of tensors outside of input section",
                ));
            }
            if variadic {
                return Err(AiError::Script(
                    "ERR Already encountered a variable size list of tensors",
                ));
            }
            variadic = true;
        } else {
            match at {
                In::Inputs => out.inputs.push(pos),
                In::Outputs => out.outputs.push(pos),
                In::Nothing => {
                    return Err(AiError::Script("ERR Unrecongnized parameter to SCRIPTRUN"))
                }
            }
        }
        pos += 1;
    }
    if !inputs_seen {
        return Err(AiError::InputsNotSpecified);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<&[u8]> {
        s.split(' ')
            .filter(|w| !w.is_empty())
            .map(str::as_bytes)
            .collect()
    }

    fn store(s: &str) -> Result<StoreArgs<'_>, String> {
        let w = words(s);
        // The slices borrow `s`, not `w`.
        let w: Vec<&[u8]> = w.into_iter().collect();
        parse_scriptstore(&w[..]).map_err(|e| e.to_string())
    }

    #[test]
    fn scriptstore_grammar_and_errors() {
        let a = store("CPU TAG t ENTRY_POINTS 2 f g SOURCE src").unwrap();
        assert_eq!(a.device, b"CPU");
        assert_eq!(a.tag, b"t");
        assert_eq!(a.entry_points, vec![&b"f"[..], b"g"]);
        assert_eq!(a.source, b"src");
        let a = store("CPU ENTRY_POINTS 1 f SOURCE src").unwrap();
        assert_eq!(a.tag, b"");
        for (bad, err) in [
            (
                "CPU SOURCE src x y z",
                "ERR Insufficient arguments, missing script entry points",
            ),
            (
                "CPU ENTRY_POINTS 4 f g SOURCE",
                "ERR Insufficient arguments, missing script entry points",
            ),
            (
                "CPU ENTRY_POINTS x f SOURCE src",
                "ERR Non numeric entry points number provided to AI.SCRIPTSTORE command",
            ),
            (
                "CPU ENTRY_POINTS -1 f SOURCE src",
                "ERR Non numeric entry points number provided to AI.SCRIPTSTORE command",
            ),
            (
                "CPU ENTRY_POINTS 2 f g SOURCE",
                "ERR Insufficient arguments, missing script SOURCE",
            ),
            (
                "CPU ENTRY_POINTS 1 f g src",
                "ERR Insufficient arguments, missing script SOURCE",
            ),
            (
                "CPU ENTRY_POINTS 1 f SOURCE a b",
                "ERR Invalid AI.SCRIPTSTORE command. Unexpected argument: b",
            ),
        ] {
            assert_eq!(store(bad).unwrap_err(), err, "{bad}");
        }
    }

    #[test]
    fn scriptset_grammar() {
        let w = words("CPU TAG t SOURCE s");
        let a = parse_scriptset(&w[..]).unwrap();
        assert_eq!((a.tag, a.source), (&b"t"[..], &b"s"[..]));
        let w = words("CPU x y SOURCE s");
        assert_eq!(
            parse_scriptset(&w[..]).unwrap_err().to_string(),
            "ERR Insufficient arguments, missing script SOURCE"
        );
    }

    #[test]
    fn scriptget_flags() {
        let get = |s: &str| parse_scriptget(&words(s)[..]);
        assert_eq!(get(""), (true, true));
        assert_eq!(get("META"), (true, false));
        assert_eq!(get("source"), (false, true));
        assert_eq!(get("META SOURCE"), (true, true));
    }

    fn exec(s: &str) -> Result<ExecArgs, String> {
        parse_scriptexecute(&words(s)[..], true).map_err(|e| e.to_string())
    }

    #[test]
    fn scriptexecute_sections_in_any_order() {
        let a = exec("INPUTS 2 a b KEYS 1 k ARGS 1 x OUTPUTS 1 o TIMEOUT 5").unwrap();
        assert_eq!(a.inputs, vec![2, 3]);
        assert_eq!(a.keys, vec![6]);
        assert_eq!(a.args, vec![9]);
        assert_eq!(a.outputs, vec![12]);
        assert_eq!(a.timeout_ms, Some(5));
        assert!(exec("INPUTS 0").unwrap().inputs.is_empty());
    }

    #[test]
    fn scriptexecute_errors() {
        for (bad, err) in [
            ("", "ERR KEYS or INPUTS scope must be provided first for AI.SCRIPTEXECUTE command"),
            ("ARGS 1 a", "ERR KEYS or INPUTS scope must be provided first for AI.SCRIPTEXECUTE command"),
            ("KEYS 1 a KEYS 1 b", "ERR Already Encountered KEYS scope in AI.SCRIPTEXECUTE command"),
            ("INPUTS 1 a INPUTS 1 b", "ERR Already Encountered INPUTS scope in AI.SCRIPTEXECUTE command"),
            ("INPUTS 1 a ARGS 1 b ARGS 1 c", "ERR Already Encountered ARGS scope in AI.SCRIPTEXECUTE command"),
            ("INPUTS 1 a OUTPUTS 1 b OUTPUTS 1 c", "ERR Already Encountered OUTPUTS scope in AI.SCRIPTEXECUTE command"),
            ("KEYS 1", "ERR Missing arguments after KEYS keyword"),
            ("KEYS 0 a", "ERR Invalid or negative value found in number of KEYS"),
            ("KEYS x a", "ERR Invalid or negative value found in number of KEYS"),
            ("KEYS 3 a b", "ERR Number of pre declared KEYS to be used in the command does not match the number of given arguments"),
            ("INPUTS", "ERR Invalid arguments provided to AI.SCRIPTEXECUTE"),
            ("INPUTS x", "ERR Invalid argument for inputs count in AI.SCRIPTEXECUTE"),
            ("INPUTS 1 a ARGS y", "ERR Invalid argument for keys count in AI.SCRIPTEXECUTE"),
            ("INPUTS 1 a OUTPUTS -1", "ERR Invalid argument for outputs count in AI.SCRIPTEXECUTE"),
            ("INPUTS 2 a", "ERR number of inputs to AI.SCRIPTEXECUTE command does not match the number of given arguments"),
            ("INPUTS 1 a ARGS 2 b", "ERR number of args to AI.SCRIPTEXECUTE command does not match the number of given arguments"),
            ("INPUTS 1 a OUTPUTS 3 o", "ERR number of outputs to AI.SCRIPTEXECUTE command does not match the number of given arguments"),
            ("INPUTS 1 a TIMEOUT", "ERR No value provided for TIMEOUT in AI.SCRIPTEXECUTE"),
            ("INPUTS 1 a TIMEOUT x", "ERR Invalid value for TIMEOUT"),
            ("INPUTS 1 a TIMEOUT 0", "ERR Invalid value for TIMEOUT"),
            ("INPUTS 1 a TIMEOUT 5 OUTPUTS 1 o", "ERR Invalid AI.SCRIPTEXECUTE command. Unexpected argument: OUTPUTS"),
            ("INPUTS 1 a bogus", "ERR Invalid AI.SCRIPTEXECUTE command. Unexpected argument: bogus"),
        ] {
            assert_eq!(exec(bad).unwrap_err(), err, "{bad}");
        }
        // Inside a DAG the first section may be anything.
        assert!(parse_scriptexecute(&words("ARGS 1 a")[..], false).is_ok());
    }

    #[test]
    fn scriptrun_grammar_and_errors() {
        let run = |s: &str| parse_scriptrun(&words(s)[..]).map_err(|e| e.to_string());
        let a = run("TIMEOUT 9 INPUTS a $ b c OUTPUTS o").unwrap();
        assert_eq!(
            (a.inputs, a.outputs, a.timeout_ms),
            (vec![3, 5, 6], vec![8], Some(9))
        );
        for (bad, err) in [
            (
                "INPUTS a INPUTS b",
                "ERR Already encountered an INPUTS section in SCRIPTRUN",
            ),
            (
                "INPUTS a OUTPUTS b INPUTS c",
                "ERR Already encountered an INPUTS keyword in SCRIPTRUN",
            ),
            (
                "INPUTS a OUTPUTS b OUTPUTS c",
                "ERR Already encountered an OUTPUTS keyword in SCRIPTRUN",
            ),
            (
                "TIMEOUT 1 TIMEOUT 2 INPUTS a",
                "ERR Already encountered an TIMEOUT section in SCRIPTRUN",
            ),
            ("TIMEOUT x INPUTS a", "ERR Invalid value for TIMEOUT"),
            (
                "INPUTS a OUTPUTS $ b",
                "ERR Encountered a variable size list of tensors outside of input section",
            ),
            (
                "INPUTS $ a $ b",
                "ERR Already encountered a variable size list of tensors",
            ),
            ("foo INPUTS a", "ERR Unrecongnized parameter to SCRIPTRUN"),
            ("OUTPUTS o", "ERR INPUTS not specified"),
        ] {
            assert_eq!(run(bad).unwrap_err(), err, "{bad}");
        }
    }
}
