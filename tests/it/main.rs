//! Integration tests: the real `handler` binary, spawned as the Functions host spawns it,
//! against the local ACS and managed-identity emulator.

mod access_key;
mod capabilities;
mod dev;
mod host;
mod modes;
mod openapi;
mod package;
mod process;
mod sms;
mod support;
mod token;
