//! Passwords: argon2id on dedicated low-priority threads behind a bounded queue.

use std::sync::Arc;

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};

use super::generate_secret;
use crate::error::{AppError, AppResult};

/// A unit of password work for the hashing threads.
type Job = Box<dyn FnOnce() + Send>;

/// Argon2id hashing on a few dedicated threads running at a lower OS priority, so a login
/// storm queues here instead of taking CPU from every other request.
#[derive(Clone)]
pub struct Passwords {
    jobs: std::sync::mpsc::SyncSender<Job>,
    /// A hash of a random password, verified against when the account does not exist, so an
    /// unknown email costs as much time as a wrong password.
    decoy_hash: Arc<String>,
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(19_456, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_now(password: &str) -> AppResult<String> {
    argon2()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AppError::internal(format!("password hashing failed: {e}")))
}

/// Password hashes waiting for a thread, at most; past that, callers wait to enqueue.
const QUEUE: usize = 1024;

impl Passwords {
    pub fn new(threads: usize) -> AppResult<Self> {
        let decoy = hash_now(&generate_secret())?;
        let (jobs, queue) = std::sync::mpsc::sync_channel::<Job>(QUEUE);
        let queue = Arc::new(std::sync::Mutex::new(queue));
        for n in 0..threads.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || {
                    crate::priority::lower_this_thread();
                    loop {
                        let job = {
                            let queue = queue.lock().unwrap_or_else(|p| p.into_inner());
                            queue.recv()
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })
                .map_err(|e| AppError::internal(format!("starting a hashing thread: {e}")))?;
        }
        Ok(Self {
            jobs,
            decoy_hash: Arc::new(decoy),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> AppResult<T> + Send + 'static,
    ) -> AppResult<T> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(work());
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(std::sync::mpsc::TrySendError::Full(job)) => {
                // A full queue: wait for room off the async threads.
                let jobs = self.jobs.clone();
                tokio::task::spawn_blocking(move || jobs.send(job))
                    .await
                    .map_err(|e| AppError::internal(format!("password queue failed: {e}")))?
                    .map_err(|_| AppError::internal("password hashing threads stopped"))?;
            }
            Err(std::sync::mpsc::TrySendError::Disconnected(_)) => {
                return Err(AppError::internal("password hashing threads stopped"));
            }
        }
        result
            .await
            .map_err(|_| AppError::internal("password hashing was dropped"))?
    }

    pub async fn hash(&self, password: &str) -> AppResult<String> {
        let password = password.to_string();
        self.run(move || hash_now(&password)).await
    }

    /// True when `password` matches `hash`. With `hash: None` (unknown account) it checks
    /// against the decoy and answers false, taking the same time.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> AppResult<bool> {
        let password = password.to_string();
        let known = hash.is_some();
        let hash = hash
            .map(str::to_string)
            .unwrap_or_else(|| self.decoy_hash.as_ref().clone());
        let matches = self
            .run(move || {
                Ok(argon2()
                    .verify_password(password.as_bytes(), hash.as_str())
                    .is_ok())
            })
            .await?;
        Ok(known && matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passwords_verify_and_unknown_accounts_never_match() {
        let passwords = Passwords::new(2).expect("init");
        let hash = passwords.hash("correct horse").await.expect("hash");
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            passwords
                .verify("correct horse", Some(&hash))
                .await
                .expect("verify")
        );
        assert!(
            !passwords
                .verify("wrong", Some(&hash))
                .await
                .expect("verify")
        );
        assert!(
            !passwords
                .verify("correct horse", None)
                .await
                .expect("verify")
        );
    }
}
