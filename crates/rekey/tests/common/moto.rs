//! moto's standalone server (killed by PID on drop) behind the model of real AWS
//! (`rekey-aws-model`): every suite talks to moto through the model, with IAM's paging and
//! quotas always on; a test that exercises throttling or propagation delay switches them on
//! with [`Moto::start_with`] or [`Moto::model`].

use rekey_aws_model::{Model, ModelConfig, MotoServer};

/// moto behind the model.
pub struct Moto {
    /// The model in front (dropped first: fields drop in order).
    model: Model,
    moto: MotoServer,
    /// The model's port (what clients and the fault proxy connect to).
    pub port: u16,
    /// The model's endpoint URL.
    pub url: String,
}

impl Moto {
    /// Starts moto with request authentication off.
    pub fn start() -> Self {
        Self::start_with_env(&[])
    }

    /// Starts moto with extra environment (e.g. `INITIAL_NO_AUTH_ACTION_COUNT`).
    pub fn start_with_env(env: &[(&str, &str)]) -> Self {
        Self::start_with(env, ModelConfig::suite())
    }

    /// Starts moto with extra environment, behind the model configured as `config`.
    pub fn start_with(env: &[(&str, &str)], config: ModelConfig) -> Self {
        let moto = MotoServer::start(env).expect("moto_server on PATH (pip install 'moto[server]' flask flask-cors)");
        let model = Model::start(config, moto.port).expect("the model of AWS starts");
        let (port, url) = (model.port(), model.url().to_owned());
        Self { model, moto, port, url }
    }

    /// The model, to switch behaviours on or off and read its counts.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// moto's internal state (`/moto-api/data.json`), e.g. to read stored passwords.
    pub fn state(&self) -> serde_json::Value {
        let body = self.moto.get("/moto-api/data.json").expect("moto state");
        serde_json::from_str(&body).expect("moto state is JSON")
    }
}
