//! Command JSON lines of an incident, run through the machine (see
//! [`itsm_fuzz::run_commands`]).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    itsm_fuzz::run_commands::<itsm_core::incident::Incident>("incident command", data);
});
