//! AI.MODELSTORE, AI.MODELSET, AI.MODELEXECUTE, AI.MODELRUN, AI.MODELGET arguments.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redisai::fuzzing;

fuzz_target!(|data: &[u8]| {
    fuzzing::model(&fuzzing::split_words(data));
});
