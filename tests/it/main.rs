//! Integration tests: the real `handler` binary, spawned as the Functions host spawns it,
//! against the local ACS and managed-identity emulator.

mod faults;
mod host;
mod modes;
mod process;
mod sms;
mod support;
mod token;
