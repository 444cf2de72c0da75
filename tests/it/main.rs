//! Integration tests: the real `handler` binary, spawned as the Functions host spawns it,
//! against the local ACS and managed-identity emulator.

mod access_key;
mod host;
mod modes;
mod package;
mod process;
mod sms;
mod support;
mod token;
