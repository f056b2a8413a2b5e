//! AI.TENSORSET (grammar and building the tensor) and AI.TENSORGET's format words.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redisai::fuzzing;

fuzz_target!(|data: &[u8]| {
    fuzzing::tensor(&fuzzing::split_words(data));
});
