//! FT.CREATE arguments: the index name, then the rest.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redisai::fuzzing;

fuzz_target!(|data: &[u8]| {
    fuzzing::search_schema(&fuzzing::split_words(data));
});
