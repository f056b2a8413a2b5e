//! A cluster bus message from another node: its type byte, then its payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redisai::fuzzing;

fuzz_target!(|data: &[u8]| {
    fuzzing::cluster_wire(data);
});
