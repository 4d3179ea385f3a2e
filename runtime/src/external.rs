//! External environments: simulators the language cannot express (above all any Gymnasium
//! env by id), hosted in worker processes that speak the protocol of `docs/external-envs.md`.

use std::path::PathBuf;
use std::time::Duration;

use crate::tensor::Tensor;

/// What an external environment looks like, learned from the worker's handshake.
#[derive(Clone, Debug, PartialEq)]
pub struct EnvSpec {
    pub obs_shape: Vec<usize>,
    pub action: ActionSpace,
    pub max_steps: Option<u64>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ActionSpace {
    Discrete(usize),
    Box { shape: Vec<usize>, low: Vec<f32>, high: Vec<f32> },
}

/// Options for starting workers.
#[derive(Clone, Debug)]
pub struct ExternalOptions {
    pub python: Option<PathBuf>,
    pub worker_script: Option<PathBuf>,
    pub timeout: Duration,
}

impl Default for ExternalOptions {
    fn default() -> Self {
        ExternalOptions { python: None, worker_script: None, timeout: Duration::from_secs(30) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExternalError {
    #[error("external environments are not implemented yet")]
    Unimplemented,
}

pub struct ExternalEnv {
    spec: EnvSpec,
    num_envs: usize,
}

pub struct StepResult {
    pub obs: Tensor,
    pub final_obs: Tensor,
    pub reward: Tensor,
    pub terminated: Tensor,
    pub truncated: Tensor,
}

impl ExternalEnv {
    pub fn probe(_id: &str, _opts: &ExternalOptions) -> Result<EnvSpec, ExternalError> {
        Err(ExternalError::Unimplemented)
    }
    pub fn start(
        _id: &str,
        _num_envs: usize,
        _workers: usize,
        _seed: u64,
        _opts: &ExternalOptions,
    ) -> Result<ExternalEnv, ExternalError> {
        Err(ExternalError::Unimplemented)
    }
    pub fn spec(&self) -> &EnvSpec {
        &self.spec
    }
    pub fn num_envs(&self) -> usize {
        self.num_envs
    }
    pub fn reset(&mut self) -> Result<Tensor, ExternalError> {
        Err(ExternalError::Unimplemented)
    }
    pub fn step(&mut self, _actions: &Tensor) -> Result<StepResult, ExternalError> {
        Err(ExternalError::Unimplemented)
    }
}
