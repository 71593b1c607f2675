//! The `serve` flags for the assistant's optional language model (see README's "Plugging a
//! language model"); off unless `--language-model-url` is given.

use miaodan_server::language_model::{LANGUAGE_MODEL_TIMEOUT_MS_DEFAULT, LanguageModelConfig};
use std::time::Duration;

#[derive(clap::Args, Clone, Debug)]
pub struct LanguageModelArgs {
    /// An OpenAI-compatible model server (http://host:port) the assistant asks about the
    /// messages its own classifier is unsure of; without it, the assistant needs nothing else.
    #[arg(long, env = "MIAODAN_LANGUAGE_MODEL_URL")]
    language_model_url: Option<String>,
    /// The model to ask (the `model` field of each request).
    #[arg(long, env = "MIAODAN_LANGUAGE_MODEL_NAME", default_value = "default")]
    language_model_name: String,
    /// How long the assistant waits for the model before answering without it.
    #[arg(long, default_value_t = LANGUAGE_MODEL_TIMEOUT_MS_DEFAULT)]
    language_model_timeout_ms: u64,
}

/// The environment variable holding the model server's API key: a secret, so never a flag
/// (a flag shows in `ps` and in shell history).
const API_KEY_VARIABLE: &str = "MIAODAN_LANGUAGE_MODEL_KEY";

impl LanguageModelArgs {
    /// The model's configuration, or `None` when no URL is given.
    pub fn config(self) -> Option<LanguageModelConfig> {
        let base_url = self.language_model_url.filter(|url| !url.trim().is_empty())?;
        let api_key = std::env::var(API_KEY_VARIABLE).ok().filter(|key| !key.is_empty());
        Some(LanguageModelConfig {
            base_url,
            api_key,
            model: self.language_model_name,
            timeout: Duration::from_millis(self.language_model_timeout_ms),
        })
    }
}
