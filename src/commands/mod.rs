//! The command layer: one file per subcommand, and the only layer that prints.
//!
//! - [`train`]: the visible epoch loop (the default command)
//! - [`eval`], [`generate`], [`reconstruct`]: on saved weights
//! - [`gradcheck`]: the backward pass against finite differences
//! - [`judge`]: trains the digit classifier that scores generated samples
//! - [`train_prior`]: fits a prior over a saved model's codes, for `generate --prior`

pub mod eval;
pub mod generate;
pub mod gradcheck;
pub mod judge;
pub mod reconstruct;
pub mod train;
pub mod train_prior;

use crate::config::Command;
use crate::error::Result;

/// Runs `command`.
pub fn run(command: &Command) -> Result<()> {
    command.validate()?;
    match command {
        Command::Train(args) => train::run(args).map(|_| ()),
        Command::Gradcheck(config) => gradcheck::run(config).map(|_| ()),
        Command::Eval(config) => eval::run(config).map(|_| ()),
        Command::Generate(config) => generate::run(config),
        Command::Reconstruct(config) => reconstruct::run(config).map(|_| ()),
        Command::Judge(config) => judge::run(config).map(|_| ()),
        Command::TrainPrior(config) => train_prior::run(config).map(|_| ()),
    }
}
