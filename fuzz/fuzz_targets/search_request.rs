//! FT.SEARCH arguments after the index name: the query, then the options.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redisai::fuzzing;

fuzz_target!(|data: &[u8]| {
    fuzzing::search_request(&fuzzing::split_words(data));
});
