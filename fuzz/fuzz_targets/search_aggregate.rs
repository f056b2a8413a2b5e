//! FT.AGGREGATE's arguments after the index name: the query, options and pipeline steps.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redisai::fuzzing;

fuzz_target!(|data: &[u8]| {
    fuzzing::search_aggregate(&fuzzing::split_words(data));
});
