//! FT.SEARCH query strings: the query, then PARAMS name/value pairs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redisai::fuzzing;

fuzz_target!(|data: &[u8]| {
    fuzzing::search_query(&fuzzing::split_words(data));
});
