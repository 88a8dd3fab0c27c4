//! The one-line error of a setting that cannot be used.

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Arg, Args, Command};

use super::Settings;

/// A setting that cannot be used; its `Display` is the one-line start-up error, naming the
/// environment variable and the flag, e.g.
/// ``FLOWTRACK_ACCESS_TTL (--access-ttl): invalid value `0`: 0 is not in 1..=604800``.
#[derive(Debug, thiserror::Error)]
#[error("{variable} ({flag}): {message}")]
pub struct ConfigError {
    pub variable: String,
    pub flag: String,
    pub message: String,
}

impl ConfigError {
    /// clap's report of a value that a setting's parser refused, as one line naming the
    /// variable (clap's own names only the flag, over several lines). `None` for any other
    /// error (an unknown flag, `--help`), which clap reports itself.
    pub fn from_clap(err: &clap::Error) -> Option<Self> {
        let reason = match err.kind() {
            ErrorKind::ValueValidation => std::error::Error::source(err)?.to_string(),
            ErrorKind::InvalidValue => match err.get(ContextKind::ValidValue)? {
                ContextValue::Strings(values) => format!("expected {}", values.join(" or ")),
                _ => return None,
            },
            _ => return None,
        };
        let Some(ContextValue::String(rendered)) = err.get(ContextKind::InvalidArg) else {
            return None;
        };
        let settings = settings();
        let arg = settings
            .get_arguments()
            .find(|arg| arg.to_string() == *rendered)?;
        // A secret's value is not repeated (clap's own message would).
        let value = match err.get(ContextKind::InvalidValue) {
            Some(ContextValue::String(value)) if !arg.is_hide_env_values_set() => {
                format!(" `{value}`")
            }
            _ => String::new(),
        };
        Self::about(arg, format!("invalid value{value}: {reason}"))
    }

    /// An error about the setting of the field `id` (e.g. `"admin_email"`).
    pub(super) fn of_setting(id: &str, message: &str) -> Self {
        let settings = settings();
        settings
            .get_arguments()
            .find(|arg| arg.get_id().as_str() == id)
            .and_then(|arg| Self::about(arg, message.to_string()))
            .unwrap_or_else(|| unreachable!("`{id}` is a setting with a variable and a flag"))
    }

    fn about(arg: &Arg, message: String) -> Option<Self> {
        Some(Self {
            variable: arg.get_env()?.to_string_lossy().into_owned(),
            flag: format!("--{}", arg.get_long()?),
            message,
        })
    }
}

/// The settings' definitions, built as in a parse (so that each argument renders as it does
/// in clap's errors).
fn settings() -> Command {
    let mut command = Settings::augment_args(Command::new("flowtrack"));
    command.build();
    command
}
