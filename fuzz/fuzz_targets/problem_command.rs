//! Command JSON lines of a problem, run through the machine (see
//! [`itsm_fuzz::run_commands`]).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    itsm_fuzz::run_commands::<itsm_core::problem::Problem>("problem command", data);
});
