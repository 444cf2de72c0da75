//! An Azure Functions custom handler that creates Azure Communication Services users, issues
//! their access tokens and sends SMS, authenticating to ACS with the function app's managed
//! identity.
//!
//! Layout: [`config`] reads the settings once; [`server`] binds and serves [`routes`], which
//! parse input at the edge ([`extract`], [`phone`], [`scope`], [`sms_text`]) and call ACS through
//! [`acs`], an SDK-shaped client on an `azure_core` pipeline; [`error`] is the one error shape.
//! With the `emulator` feature, [`emulator`] is a local ACS and managed-identity endpoint and
//! [`dev`] runs the handler against it.

pub mod acs;
pub mod calling_codes;
pub mod config;
pub mod credential;
pub mod error;
pub mod extract;
pub mod invocation;
pub mod limits;
pub mod phone;
pub mod principal;
pub mod redact;
pub mod routes;
pub mod scope;
pub mod sender;
pub mod server;
pub mod sms_text;
pub mod telemetry;

#[cfg(feature = "emulator")]
pub mod dev;
#[cfg(feature = "emulator")]
pub mod emulator;
