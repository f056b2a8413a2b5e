//! AI.DAGEXECUTE, AI.DAGEXECUTE_RO, AI.DAGRUN, AI.DAGRUN_RO against a fake keyspace.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redisai::fuzzing;

fuzz_target!(|data: &[u8]| {
    fuzzing::dag(&fuzzing::split_words(data));
});
