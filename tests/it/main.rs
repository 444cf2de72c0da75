//! Integration tests: the real `handler` binary, spawned as the Functions host spawns it,
//! against the local ACS and managed-identity emulator.

mod access_key;
mod capabilities;
mod dev;
mod faults;
mod hardening;
mod host;
mod load;
mod modes;
mod openapi;
mod package;
mod process;
mod shutdown;
mod sms;
mod support;
mod token;
