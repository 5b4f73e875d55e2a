//! rekey's use cases. An [`Engine`] is an unlocked vault plus its collaborators (store, clock,
//! AWS connector); each use case is a method on it, in the module named after what it acts on.
//! Data flows one way: front ends (CLI, HTTP) → engine → store / AWS / clock.

pub mod accounts;
mod audit;
pub mod batch;
mod checkout;
pub mod connect;
pub mod delivery;
pub mod discover;
mod error;
pub mod failpoint;
mod heartbeat;
pub mod incident;
pub mod lease;
pub mod limits;
pub mod org;
pub mod policy;
pub mod policy_fit;
pub mod progress;
pub mod providers;
pub mod report;
pub mod rotate;
pub mod settings;
pub mod stats;
mod tick;
pub mod vault;

pub use accounts::{AccountRef, KeySource, NewAccount, Removed};
pub use audit::ChainReport;
pub use connect::{AwsConnector, FakeConnector, SdkConnector};
pub use error::{Error, ErrorClass, Result};
pub use limits::Limits;
pub use providers::{AuthSpec, NewProvider};
pub use rotate::{Pending, Report, RotateOptions};
pub use settings::AccountChanges;
pub use tick::{retry_wait, TickOptions, TickReport};
pub use vault::{Deps, Engine, KeySource as MasterKeySource, MasterKey};
