//! The settings of webhook delivery.

use std::time::Duration;

use clap::{ArgAction, Args, value_parser};

/// How webhooks are delivered (flattened into [`super::Settings`]).
#[derive(Clone, Args)]
pub struct WebhookSettings {
    /// Let webhooks target loopback, private, link-local and other non-public addresses
    /// (development and tests only).
    #[arg(
        long = "webhook-allow-private",
        global = true,
        env = "FLOWTRACK_WEBHOOK_ALLOW_PRIVATE",
        value_name = "BOOL",
        default_value = "false",
        action = ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    webhook_allow_private: bool,
    /// How long one delivery attempt may take (connection, request and answer), ms.
    #[arg(
        long = "webhook-timeout-ms",
        global = true,
        env = "FLOWTRACK_WEBHOOK_TIMEOUT_MS",
        value_name = "MS",
        default_value_t = 10_000,
        value_parser = value_parser!(u32).range(100..=300_000)
    )]
    webhook_timeout_ms: u32,
    /// The first retry's delay, ms; retry n waits this · 4^(n−1) (±20 %, at most 6 h).
    #[arg(
        long = "webhook-retry-base-ms",
        global = true,
        env = "FLOWTRACK_WEBHOOK_RETRY_BASE_MS",
        value_name = "MS",
        default_value_t = 5_000,
        value_parser = value_parser!(u32).range(1..=3_600_000)
    )]
    webhook_retry_base_ms: u32,
    /// How long a failing event is retried before the webhook is disabled, seconds.
    #[arg(
        long = "webhook-give-up-seconds",
        global = true,
        env = "FLOWTRACK_WEBHOOK_GIVE_UP_SECONDS",
        value_name = "SECONDS",
        default_value_t = 259_200,
        value_parser = value_parser!(u32).range(1..=30 * 86_400)
    )]
    webhook_give_up_seconds: u32,
}

/// Webhook delivery, as the server runs it.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub allow_private: bool,
    pub timeout: Duration,
    pub retry_base: Duration,
    pub give_up: Duration,
}

impl From<WebhookSettings> for WebhookConfig {
    fn from(s: WebhookSettings) -> Self {
        Self {
            allow_private: s.webhook_allow_private,
            timeout: Duration::from_millis(s.webhook_timeout_ms.into()),
            retry_base: Duration::from_millis(s.webhook_retry_base_ms.into()),
            give_up: Duration::from_secs(s.webhook_give_up_seconds.into()),
        }
    }
}
